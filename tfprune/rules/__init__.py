"""How each layer and operation type treats channels (see `base.py`)."""

from tfprune.rules.base import (CHANNELWISE, CONCAT, EXPAND, FLATTEN, GATE,
                                MERGE, OPAQUE, PRODUCER, LayerRule,
                                OpaqueRule, expand_kept, flatten_kept,
                                is_known, register_rule, rule_for)
from tfprune.rules.layers import ChannelwiseRule
from tfprune.rules.operations import OperationRule, operation_class

__all__ = [
    "CHANNELWISE", "CONCAT", "EXPAND", "FLATTEN", "GATE", "MERGE", "OPAQUE",
    "PRODUCER", "ChannelwiseRule", "LayerRule", "OpaqueRule",
    "OperationRule", "expand_kept", "flatten_kept", "is_known",
    "operation_class", "register_rule", "rule_for",
]
