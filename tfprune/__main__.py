"""Command line: `python -m tfprune export ...` (also the `tfprune` script).

    python -m tfprune export --model=runs/vgg/model.keras --out_dir=fw \\
        --target=mcu --representative=calib.npy [--labels=labels.txt] \\
        [--evaluation=val.npz] [--device=cortex-m4]

`--representative` is a `.npy` array of raw inputs (first axis: examples);
`--evaluation` a `.npz` with arrays `x` and `y`.
"""

import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras model (e.g. from a recipe).")
flags.DEFINE_string("out_dir", None, "Folder for the deployable files.")
flags.DEFINE_enum("target", "mcu", ["mcu", "mobile"], "Device family.")
flags.DEFINE_string("representative", None,
                    ".npy of calibration inputs (first axis: examples).")
flags.DEFINE_string("labels", None, "Text file, one class name per line.")
flags.DEFINE_string("evaluation", None, ".npz with arrays x and y.")
flags.DEFINE_integer("num_samples", 200, "Calibration examples to use.")
flags.DEFINE_string("device", None, "A device preset (cortex-m4, cortex-m7, "
                    "esp32-s3, cortex-m0plus; target mcu): check that the "
                    "model fits its flash and RAM.")

COMMANDS = ("export",)


def _main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(
            f"Expected one command, one of {COMMANDS}. Received: {argv[1:]}")
    for name in ("model", "out_dir", "representative"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required.")
    for name in ("model", "representative", "labels", "evaluation"):
        path = getattr(FLAGS, name)
        if path and not os.path.isfile(path):
            raise app.UsageError(f"--{name}: no file at '{path}'.")
    import keras
    import numpy as np

    import tfprune  # noqa: F401  (registers ChannelGate for loading)
    from tfprune.deploy import export

    model = keras.models.load_model(FLAGS.model, compile=False)
    representative = np.load(FLAGS.representative)
    evaluation = None
    if FLAGS.evaluation:
        with np.load(FLAGS.evaluation) as arrays:
            evaluation = (arrays["x"], arrays["y"])
    report = export(model, FLAGS.out_dir, target=FLAGS.target,
                    representative=representative, labels=FLAGS.labels,
                    evaluation=evaluation, num_samples=FLAGS.num_samples,
                    device=FLAGS.device)
    summary = {k: v for k, v in report.items()
               if k not in ("input", "output", "device")}
    print(f"Exported to {FLAGS.out_dir}: {summary}")
    if FLAGS.device:
        fit = report["device"]
        print(f"Fits {FLAGS.device}: flash {fit['flash']['used']:,} of "
              f"{fit['flash']['allowed']:,} bytes "
              f"({fit['flash']['used_share']:.1%}, {fit['flash']['left']:,} "
              f"left); RAM arena {fit['ram']['used']:,} of "
              f"{fit['ram']['allowed']:,} bytes ({fit['ram']['used_share']:.1%},"
              f" {fit['ram']['left']:,} left).")


def run():
    app.run(_main, argv=sys.argv)


if __name__ == "__main__":
    run()
