"""Flash bytes: the size of the int8 `.tflite` file as a function of the widths.

A full-integer TFLite model stores, for every convolution and dense layer,
the int8 kernel (one byte per weight) and an int32 bias (four bytes per
output channel); for every convolution also per-channel quantization
parameters (a float32 scale and an int64 zero point, twelve bytes, for the
kernel and again for the bias of every output channel). Dense kernels are
quantized per tensor by default (`to_tflite(dense_quantization=...)`):
their scales do not depend on the widths; per channel, they count like a
convolution's. BatchNormalization right after a convolution is
folded into it; elsewhere it becomes an int8 multiply and add (about two
bytes per channel). The rest of the file (operators, tensor names and
shapes, one scale per activation tensor, the flatbuffer's tables) does not
depend on the widths: it is measured once, by converting the model at its
current widths, and added as a constant.

`flash_polynomial(graph)` is what `metric="flash"` and `flash_bytes=`
budgets use.
"""

import keras
import numpy as np

from tfprune import convert
from tfprune import polynomial
from tfprune import rules
from tfprune.surgery import shrink

KERNEL_BYTES = 1  # int8 weights
BIAS_BYTES = 4  # int32
QUANT_BYTES = 12  # float32 scale + int64 zero point, per channel
PER_OUTPUT_CHANNEL = BIAS_BYTES + 2 * QUANT_BYTES  # bias, kernel+bias scales


def _add(terms, more, factor=1.0):
    for key, coef in more.items():
        terms[key] = terms.get(key, 0.0) + coef * factor
    return terms


def _per_output_channel(layer, dense_quantization):
    """Bytes stored per output channel of a convolution or dense layer."""
    if isinstance(layer, keras.layers.Dense) and \
            dense_quantization == "per_tensor":
        return BIAS_BYTES  # one scale and zero point for the whole tensor
    return PER_OUTPUT_CHANNEL


def call_terms(graph, call, folded_bn,
               dense_quantization=convert.DEFAULT_DENSE_QUANTIZATION):
    """One call's stored bytes in the int8 model, as polynomial terms."""
    if not call.first_call or call.is_operation:
        return {}
    layer, kind = call.layer, call.kind
    c_in = polynomial.linear(graph.input_width(call)) if call.inputs else {}
    c_out = polynomial.linear(graph.output_width(call))
    name = type(layer).__name__
    if kind == rules.PRODUCER and hasattr(layer, "depthwise_kernel"):
        taps = int(np.prod(layer.depthwise_kernel.shape[:-2]))
        m = layer.depth_multiplier
        terms = polynomial.as_terms(polynomial.scale(
            c_in, m * (taps * KERNEL_BYTES + PER_OUTPUT_CHANNEL)))
        _add(terms, polynomial.times(c_in, polynomial.scale(c_out, m)))
        return _add(terms, polynomial.as_terms(c_out), PER_OUTPUT_CHANNEL)
    if kind == rules.PRODUCER:
        taps = int(np.prod(layer.kernel.shape[:-2]))
        terms = polynomial.times(c_in, polynomial.scale(c_out, taps))
        return _add(terms, polynomial.as_terms(c_out),
                    _per_output_channel(layer, dense_quantization))
    if name.startswith("DepthwiseConv"):
        taps = int(np.prod(layer.kernel.shape[:-2]))
        per_channel = layer.depth_multiplier * (taps + PER_OUTPUT_CHANNEL)
        return polynomial.as_terms(polynomial.scale(c_in, per_channel))
    if name == "BatchNormalization" and id(call.node) not in folded_bn:
        return polynomial.as_terms(polynomial.scale(c_in, 2 * KERNEL_BYTES))
    return {}


def _folded_batchnorms(graph):
    """Node ids of the BatchNormalization calls the converter folds into the
    convolution right before them."""
    producer_of = {id(t): call for call in graph.calls for t in call.outputs}
    folded = set()
    for call in graph.calls:
        if type(call.layer).__name__ != "BatchNormalization":
            continue
        source = producer_of.get(id(call.inputs[0]))
        if source is not None and (source.kind == rules.PRODUCER or type(
                source.layer).__name__.startswith("DepthwiseConv")):
            folded.add(id(call.node))
    return folded


def width_polynomial(graph,
                     dense_quantization=convert.DEFAULT_DENSE_QUANTIZATION):
    """The width-dependent bytes of the int8 model (no constant part), as
    `to_tflite(..., dense_quantization=dense_quantization)` writes it."""
    folded = _folded_batchnorms(graph)
    poly = polynomial.Polynomial(len(graph.groups))
    for call in graph.calls:
        poly.add(call_terms(graph, call, folded, dense_quantization))
    return poly


def measured_bytes(model, seed=0):
    """Bytes of `model` converted to int8 TFLite (see `converted`)."""
    return len(converted(model, seed))


def converted(model, seed=0,
              dense_quantization=convert.DEFAULT_DENSE_QUANTIZATION):
    """`model` as int8 TFLite bytes, with a little noise added to every
    weight first (the converter shares identical constant tensors, such as
    untrained all-zero biases, which a trained model does not have).
    `model` itself is not changed. `dense_quantization` as in `to_tflite`.
    """
    rng = np.random.default_rng(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights([
        w + (max(1e-3 * np.abs(w).mean(), 1e-2) * rng.uniform(
            0.5, 1.0, w.shape)).astype(w.dtype)
        for w in model.get_weights()])
    shape = [1 if d is None else d for d in model.inputs[0].shape]
    shape[0] = 4
    sample = rng.uniform(0, 1, shape).astype("float32")
    return convert.to_tflite(copy, representative=sample,
                             dense_quantization=dense_quantization)


def distinct_widths(sizes):
    """A width per group, different from every other group of the same size
    (so a tensor's channel count tells its group, and no two layers share
    identical quantization vectors that the converter would store once)."""
    seen = {}
    widths = []
    for size in sizes:
        k = seen.get(size, 0)
        seen[size] = k + 1
        widths.append(max(1, size - 1 - k) if size > 1 else 1)
    return widths


def converted_at_widths(graph, widths):
    """`converted(shrink(graph.model))` with each group keeping its first
    `widths[i]` channels; the gates' masks are left as they were. Cached
    per graph and widths: the flash and arena models calibrate on the same
    conversions. (Sizes do not depend on the weights' values.)"""
    cache = graph.__dict__.setdefault("_converted", {})
    key = tuple(int(w) for w in widths)
    if key in cache:
        return cache[key]
    masks = [group.gate.mask.numpy() for group in graph.groups]
    try:
        for group, width in zip(graph.groups, key):
            mask = np.zeros(group.size)
            mask[:width] = 1
            group.gate.set_mask(mask)
        cache[key] = converted(shrink(graph.model))
    finally:
        for group, mask in zip(graph.groups, masks):
            group.gate.set_mask(mask)
    return cache[key]


def flash_polynomial(graph):
    """`width_polynomial(graph)` plus the measured constant part, so that
    `poly(widths)` predicts the `.tflite` bytes at any widths.

    The constant is measured on a pruned copy (`distinct_widths`): at full
    width, layers of equal width share identical quantization vectors that
    the converter stores once, which pruned models (the ones budgets are
    about) rarely do."""
    poly = width_polynomial(graph)
    probe = distinct_widths([group.size for group in graph.groups])
    constant = len(converted_at_widths(graph, probe)) - poly(probe)
    poly.add({(polynomial.CONSTANT, polynomial.CONSTANT): constant})
    return poly
