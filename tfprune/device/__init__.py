"""What a model costs on a device, and the budgets that bound it.

`presets` (flash and RAM of classes of boards), `flash` (bytes of the int8
`.tflite`), `arena` (TFLite Micro tensor arena), `latency` (milliseconds,
from a `LatencyTable`) and `budgets` (the cost model of every metric, and
several budgets met at once). They sit above `surgery` and `convert`: the
flash and arena models calibrate by shrinking and converting the model.
See docs/architecture.md.
"""
