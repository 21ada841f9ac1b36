"""int8 TFLite: converting a Keras model, and running the result.

The subpackage, bottom to top:

- `flatbuffer`: checks, operators and tensor names of a `.tflite` file;
- `tflm_arena`: the TFLite Micro arena, tried in a child process
  (`check_tflm_arena`, `tflm_arena_bytes`, `TFLMError`);
- `runtime`: LiteRT and TFLite Micro runs (`run_tflite`,
  `evaluate_tflite`, `quantize_inputs`);
- `input_scaling`: folding an input scaling layer into the first
  convolution;
- `converter`: `to_tflite`, the only caller of the TFLite converter.

Examples:
    >>> from tfprune import convert
    >>> tflite_bytes = convert.to_tflite(small, representative=x_val)
    >>> convert.tflm_arena_bytes(tflite_bytes)
    19152
"""

from tfprune.convert.converter import DEFAULT_DENSE_QUANTIZATION
from tfprune.convert.converter import DENSE_QUANTIZATIONS
from tfprune.convert.converter import TARGETS
from tfprune.convert.converter import to_tflite
from tfprune.convert.flatbuffer import check_tflite
from tfprune.convert.flatbuffer import model_ops
from tfprune.convert.flatbuffer import strip_tensor_names
from tfprune.convert.input_scaling import fold_input_scaling
from tfprune.convert.quantization import DegenerateTensor
from tfprune.convert.quantization import degenerate_message
from tfprune.convert.quantization import degenerate_tensors
from tfprune.convert.runtime import RUNTIMES
from tfprune.convert.runtime import evaluate_tflite
from tfprune.convert.runtime import is_xnnpack_refusal
from tfprune.convert.runtime import quantize_inputs
from tfprune.convert.runtime import run_tflite
from tfprune.convert.runtime import xnnpack_refusal
from tfprune.convert.tflm_arena import TFLMError
from tfprune.convert.tflm_arena import check_tflm_arena
from tfprune.convert.tflm_arena import tflm_arena_bytes

__all__ = [
    "DEFAULT_DENSE_QUANTIZATION", "DENSE_QUANTIZATIONS", "DegenerateTensor",
    "RUNTIMES", "degenerate_message", "degenerate_tensors",
    "TARGETS", "TFLMError", "check_tflite", "check_tflm_arena",
    "evaluate_tflite", "fold_input_scaling", "is_xnnpack_refusal",
    "model_ops", "quantize_inputs", "run_tflite", "strip_tensor_names",
    "tflm_arena_bytes",
    "to_tflite", "xnnpack_refusal",
]
