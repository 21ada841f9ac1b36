"""Command line: `tfprune <command> [flags]` (also `python -m tfprune`).

    tfprune export --model=runs/vgg/model.keras --out_dir=fw \\
        --target=mcu --representative=calib.npy [--labels=labels.txt] \\
        [--evaluation=val.npz] [--device=cortex-m4]

Commands: `export` (the deployable files for a microcontroller or a phone).
`tfprune --help` lists the commands, `tfprune <command> --help` a
command's flags, `tfprune --version` prints the version; `--helpfull`
lists every absl flag too.

`--representative` is a `.npy` array of raw inputs (first axis: examples);
`--evaluation` a `.npz` with arrays `x` and `y`.
"""

import collections
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

Command = collections.namedtuple(
    "Command", ["summary", "description", "flags", "required", "run"])

# Filled in below, after the functions that run each command.
COMMANDS = {}

HELP_ARGS = ("-h", "--h", "-help", "--help", "-?", "--?", "-helpshort",
             "--helpshort")
VERSION_ARGS = ("-version", "--version")


def _export():
    for name in COMMANDS["export"].required:
        if not getattr(FLAGS, name):
            raise app.UsageError(
                f"--{name} is required. See `tfprune export --help`.")
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
    # With --device, export itself prints how the model fits.
    report = export(model, FLAGS.out_dir, target=FLAGS.target,
                    representative=representative, labels=FLAGS.labels,
                    evaluation=evaluation, num_samples=FLAGS.num_samples,
                    device=FLAGS.device)
    summary = {k: v for k, v in report.items()
               if k not in ("input", "output", "device")}
    print(f"Exported to {FLAGS.out_dir}: {summary}")


COMMANDS["export"] = Command(
    summary="Convert a .keras model to int8 TFLite and write the files to "
            "deploy it on a microcontroller or a phone.",
    description=(
        "Writes, only when every step succeeded: for --target=mcu the int8 "
        "model, the model as a C array (model_data.cc/.h), op_resolver.h "
        "and deploy_report.json; for --target=mobile the model, labels.txt "
        "and deploy_report.json. With --device, says how the model fits "
        "that device's flash and RAM (and fails if it does not)."),
    flags=("model", "out_dir", "target", "representative", "labels",
           "evaluation", "num_samples", "device"),
    required=("model", "out_dir", "representative"),
    run=_export)


def _main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(
            f"Expected one command, one of {tuple(COMMANDS)}. Received: "
            f"{argv[1:]}")
    COMMANDS[argv[1]].run()


def _program(argv):
    name = os.path.basename(argv[0]) if argv else "tfprune"
    return "python -m tfprune" if name in ("__main__.py", "") else name


def overview(program="tfprune"):
    """The text of `tfprune --help`: the commands, one line each."""
    width = max(len(name) for name in COMMANDS)
    lines = [f"Usage: {program} <command> [flags]", "",
             "Structured pruning for Keras 3 models; int8 TFLite export.", "",
             "Commands:"]
    for name, command in COMMANDS.items():
        lines.append(flags.text_wrap(
            f"{name.ljust(width)}  {command.summary}",
            indent=" " * (width + 4), firstline_indent="  "))
    lines += ["", "Flags:",
              "  --help      show this help",
              "  --version   print the version",
              "  --helpfull  list every absl flag", "",
              f"Run `{program} <command> --help` for a command's flags."]
    return "\n".join(lines)


def command_help(name, program="tfprune"):
    """The text of `tfprune <name> --help`: the command's flags."""
    command = COMMANDS[name]
    required = " ".join(f"--{f}=..." for f in command.required)
    lines = [f"Usage: {program} {name} {required} [flags]", "",
             flags.text_wrap(command.summary), "",
             flags.text_wrap(command.description), "", "Flags:"]
    for flag_name in command.flags:
        flag = FLAGS[flag_name]
        text = flag.help  # an enum's help starts with its values
        if flag_name in command.required:
            text += " (required)"
        elif flag.default is not None:
            text += f" (default: {flag.default!r})"
        lines.append(flags.text_wrap(f"--{flag_name}: {text}", indent="    ",
                                     firstline_indent="  "))
    return "\n".join(lines)


def _positionals(args):
    """The arguments of `args` that are not flags or flag values."""
    found = []
    args = iter(args)
    for arg in args:
        if arg == "--":
            found.extend(args)
            break
        if arg.startswith("-") and arg != "-":
            name = arg.lstrip("-")
            if "=" not in name and name in FLAGS and not FLAGS[name].boolean:
                next(args, None)  # `--model m.keras`: the value follows
            continue
        found.append(arg)
    return found


def _parse_flags(argv):
    """absl's flag parsing, after answering --help and --version (exit
    status 0, on stdout; absl's own --help exits with status 1)."""
    args = list(argv[1:])
    options = args[:args.index("--")] if "--" in args else args
    program = _program(argv)
    if any(arg in VERSION_ARGS for arg in options):
        from tfprune import __version__

        print(f"tfprune {__version__}")
        sys.exit(0)
    if any(arg in HELP_ARGS for arg in options):
        names = _positionals(args)
        if not names:
            print(overview(program))
            sys.exit(0)
        if names[0] in COMMANDS:
            print(command_help(names[0], program))
            sys.exit(0)
        sys.stderr.write(
            f"{overview(program)}\n\nUnknown command {names[0]!r}. Expected "
            f"one of {tuple(COMMANDS)}.\n")
        sys.exit(1)
    return app.parse_flags_with_usage(argv)


def _main_with_usage(argv):
    """`_main`, showing the relevant help with a usage error (absl's own
    usage text is the script's docstring, empty for a console script)."""
    try:
        _main(argv)
    except app.UsageError as error:
        program = _program(argv)
        text = command_help(argv[1], program) \
            if len(argv) == 2 and argv[1] in COMMANDS else overview(program)
        sys.stderr.write(f"{text}\n\nError: {error}\n")
        sys.exit(error.exitcode)


def run():
    app.run(_main_with_usage, argv=sys.argv, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
