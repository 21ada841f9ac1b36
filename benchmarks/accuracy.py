"""Accuracy at a budget: one pruning method, one seed, one JSON and one .tflite.

Every method gets the same model, data, epochs, optimizer and learning-rate
schedule (SGD + Nesterov, weight decay --weight_decay (5e-4), a linear
warm-up over the first epoch to --learning_rate, then cosine decay to 0):

  unpruned  the model as it is;
  thin      a uniformly thinner model (width multiplier) with at most the
            pruned parameter count, from scratch;
  tfprune   learned gates (Taylor-saliency scores), TargetRatio's gradual
            schedule (warm-up 5%, cubic ramp 20%, hold 75%);
  random    the same schedule, fixed random ranking (the ablation);
  l1        the same schedule, filter L1-norm ranking (Li et al. 2017);
  slimming  Network Slimming (Liu et al. 2017): sparsity training with an
            L1 subgradient on every BatchNorm gamma (--slimming_l1, added
            to gamma's gradient as the authors' code does) until
            --oneshot_at, then one-shot pruning by a global |gamma|
            threshold set to meet the budget (a plain top-k, not weighted
            by cost, as published; --slimming_cost_aware ranks |gamma| per
            unit of cost like tfprune's solver), then fine-tuning without
            the penalty;
  dcp       Dynamic Channel Propagation (the paper group's ICPR 2020
            method): Taylor channel utility accumulated with decay, a plain
            global top-k (no cost weighting) at the target from the first
            step, re-chosen all along (channels come back), no separate
            fine-tuning;
  scratch   the architecture tfprune found, trained from scratch (Liu et
            al. 2019, "Rethinking the value of network pruning"): the layer
            widths of the tfprune run of the same budget and seed (or of
            --architecture_from, named `_from-<method>`: another ranking's
            widths), with fresh weights, trained unpruned. It tells the
            architecture a ranking chose from what pruning during training
            adds.

Writes `<method>_<metric><target>_s<seed>.json` and `.tflite` into
--results_dir (the training folder with its resumable backup goes to
runs/accuracy/<results folder name>/). A run whose JSON exists is skipped.

    python benchmarks/accuracy.py --method=tfprune --seed=0 \
        --data_dir=../shared/datasets/cifar10 --width=0.25 --epochs=30
"""

import dataclasses
import json
import os
import shutil
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402
from tfprune.pipeline.flags import define_training_flags  # noqa: E402

METHODS = ("unpruned", "thin", "tfprune", "random", "l1", "l1oneshot",
           "slimming", "dcp", "scratch")
FLAGS = flags.FLAGS
define_training_flags(width=0.25, epochs=30,
                      data_dir="../shared/datasets/cifar10")
flags.DEFINE_enum("method", "tfprune", METHODS, "Pruning method.")
flags.DEFINE_float("target", 0.94, "Fraction of --metric to remove.")
flags.DEFINE_float("macs_target", 0.0,
                   "With --metric=params: also remove at least this fraction "
                   "of the MACs, both met (the paper's operating point: "
                   "--target=0.941 --macs_target=0.762). 0: params only.")
flags.DEFINE_integer("round_to", 1,
                     "Methods that prune to a budget: every kept channel "
                     "count is a multiple of this (TargetRatio's round_to; "
                     "run suffix _round<N>).", lower_bound=1)
flags.DEFINE_float("weight_decay", 5e-4, "SGD weight decay, every method "
                   "(another than the default adds _wd<value> to the name).",
                   lower_bound=0.0)
flags.DEFINE_float("slimming_l1", 1e-4, "slimming: L1 penalty on gamma.")
flags.DEFINE_bool("slimming_cost_aware", False,
                  "slimming: rank |gamma| per unit of cost (tfprune's "
                  "solver) instead of the published plain threshold.")
flags.DEFINE_float("oneshot_at", 0.5,
                   "slimming: fraction of training before the pruning.")
flags.DEFINE_float("distill_weight", None,
                   "With --teacher: the distillation loss' weight (loss "
                   "(1 - w) * cross-entropy + w * T^2 * KL; default 0.5). "
                   "Not in the run's name: give another --results_dir.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("distill_temperature", None,
                   "With --teacher: the softmax temperature T (default 4). "
                   "Not in the run's name: give another --results_dir.",
                   lower_bound=0.0)
flags.DEFINE_bool("mirror_teacher", False,
                  "With --teacher: distil from the teacher's logits averaged "
                  "over each image and its mirror image (run suffix "
                  "_mirror; tfprune.distillation.mirror_averaged).")
flags.DEFINE_string("architecture_from", None,
                    "scratch: the JSON of the run whose layer widths to "
                    "train from scratch. Default: --results_dir's tfprune "
                    "run of the same budget and seed; another run's adds "
                    "_from-<its method> to the name.")
flags.DEFINE_string("results_dir", "benchmarks/results/accuracy",
                    "Where the JSON and .tflite go.")


def run_name():
    if FLAGS.flash_bytes or FLAGS.arena_bytes:
        budget = "_".join(f"{name}{value}" for name, value in (
            ("flash", FLAGS.flash_bytes), ("arena", FLAGS.arena_bytes))
            if value)
    else:
        budget = f"{FLAGS.metric}{FLAGS.target:g}" + (
            f"_macs{FLAGS.macs_target:g}" if FLAGS.macs_target else "")
    return f"{FLAGS.method}_{budget}_s{FLAGS.seed}"


def architecture_source():
    """--method=scratch: the run whose widths it trains, as a name suffix.

    "" for the default (the tfprune run of the same budget and seed), else
    `_from-<method>`: `_from-dcp` for `--architecture_from=<dir>/
    dcp_params0.94_s0.json`, `_from-tfprune-kd` for a distilled run's.
    """
    if FLAGS.method != "scratch" or not FLAGS.architecture_from:
        return ""
    stem = os.path.splitext(os.path.basename(FLAGS.architecture_from))[0]
    if stem == run_name().replace("scratch", "tfprune", 1):
        return ""
    return "_from-" + stem.split("_")[0] + (
        "-kd" if stem.endswith("_kd") else "")


def build(width):
    import tfprune

    return {
        "vgg16": lambda: tfprune.models.vgg16_cifar(width=width),
        "resnet20": lambda: tfprune.models.resnet_cifar(20, width=width),
        "resnet56": lambda: tfprune.models.resnet_cifar(56, width=width),
        "mobilenet_v2": lambda: tfprune.models.mobilenet_v2_cifar(
            width=width),
        "resnet8": lambda: tfprune.models.resnet8_tiny(width=width),
    }[FLAGS.model]()


def int8_bytes(model):
    """The size of `model`'s int8 `.tflite` file once trained.

    A fresh model's zero biases and identity BatchNorms convert to equal
    constants, which the converter stores once; trained weights do not, so
    the weights of every layer with a kernel and every BatchNorm are drawn
    at random first (positive variances). Random pixels calibrate (the
    size does not depend on them).
    """
    import keras
    import numpy as np

    import tfprune

    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) or hasattr(
                layer, "kernel"):
            for weight in layer.weights:
                weight.assign(rng.uniform(0.5, 1.5, weight.shape)
                              if "variance" in weight.path
                              else rng.normal(0, 0.1, weight.shape))
    pixels = rng.uniform(0, 255, (8, *model.input_shape[1:]))
    return len(tfprune.to_tflite(model, pixels.astype("float32"),
                                 num_samples=8))


def thin_width(budget, cost_of):
    """The widest uniform width multiplier whose `cost_of(model)` fits
    `budget`."""
    low, high = 1, 1000  # thousandths of FLAGS.width
    while high - low > 1:
        mid = (low + high) // 2
        cost = cost_of(build(FLAGS.width * mid / 1000))
        low, high = (mid, high) if cost <= budget else (low, mid)
    return FLAGS.width * low / 1000


def pruned_architecture():
    """--method=scratch: `(path, layer widths)` of the pruned run's JSON."""
    path = FLAGS.architecture_from or os.path.join(
        FLAGS.results_dir, run_name().replace("scratch", "tfprune", 1)
        + ".json")
    if not os.path.exists(path):
        raise app.UsageError(
            f"--method=scratch trains the architecture of a pruned run, and "
            f"{path} does not exist. Run --method=tfprune with the same "
            "budget and seed first, or give --architecture_from.")
    with open(path) as f:
        return path, json.load(f)["layer_widths"]


def scratch_model(width, path, widths):
    """A fresh model with the layer `widths` of the pruned run at `path`."""
    import keras
    import numpy as np

    import tfprune
    from tfprune.graph import ChannelGraph

    gated = tfprune.gate(build(width))
    for group in ChannelGraph(gated).groups:
        found = [widths.get(p.name) for p in group.producers]
        if any(w is None or w[1] != group.size or w != found[0]
               for w in found):
            raise app.UsageError(
                f"{path} does not describe this model: layer "
                f"{group.producers[0].name!r} has {group.size} channels, "
                f"the JSON gives {found} ([kept, total] per producer). Use "
                "the same --model and --width.")
        kept = found[0][0]
        mask = np.zeros(group.size, "float32")
        mask[:kept] = 1
        group.gate.set_mask(mask)
    # The shrunk model's layers, re-created with fresh initial weights.
    return keras.models.clone_model(tfprune.shrink(gated))


def base_recipe():
    """The `Recipe` every method starts from: from scratch, or the
    fine-tune recipe with --init_from; the flags given override it."""
    from tfprune.pipeline import Recipe

    recipe = Recipe.fine_tune(FLAGS.epochs) if FLAGS.init_from \
        else Recipe(epochs=FLAGS.epochs)
    changes = {k: FLAGS[k].value for k in (
        "learning_rate", "warmup", "ramp", "distill_weight",
        "distill_temperature") if FLAGS[k].value is not None}
    return dataclasses.replace(
        recipe, weight_decay=FLAGS.weight_decay,
        tflm_samples=FLAGS.tflm_samples, verbose=2, **changes)


def ratio_target():
    """--target as `train_prune_export` takes it: a fraction of --metric,
    or `{"params": .., "macs": ..}` with --macs_target."""
    if not FLAGS.macs_target:
        return FLAGS.target
    if FLAGS.metric != "params" or FLAGS.method in ("thin", "slimming"):
        raise app.UsageError(
            "--macs_target needs --metric=params and a method that prunes "
            f"to ratios (tfprune, random, l1, l1oneshot, dcp). Received: "
            f"--metric={FLAGS.metric} --method={FLAGS.method}")
    return {"params": FLAGS.target, "macs": FLAGS.macs_target}


def device_budget():
    """`{"device": tfprune.DeviceBudget}` of --flash_bytes/--arena_bytes,
    or `{}`."""
    if not (FLAGS.flash_bytes or FLAGS.arena_bytes):
        return {}
    import tfprune

    return {"device": tfprune.DeviceBudget(
        flash_bytes=FLAGS.flash_bytes or None,
        arena_bytes=FLAGS.arena_bytes or None)}


def method_settings():
    """`(width, target, train_prune_export keyword arguments)`."""
    recipe = base_recipe()
    common = {"warmup": recipe.warmup, "ramp": recipe.ramp}
    method = FLAGS.method
    target = ratio_target()
    if method in ("unpruned", "scratch"):
        return FLAGS.width, 0.0, {}
    if method == "thin":
        import tfprune

        if FLAGS.flash_bytes:  # the widest uniform model whose file fits
            return thin_width(FLAGS.flash_bytes, int8_bytes), 0.0, {}
        if FLAGS.arena_bytes:
            raise app.UsageError("--method=thin takes --flash_bytes or "
                                 "--target, not --arena_bytes.")

        def cost_of(model):
            return tfprune.measure(model)[FLAGS.metric]

        full = cost_of(build(FLAGS.width))
        return thin_width((1 - FLAGS.target) * full, cost_of), 0.0, {}
    if method == "l1oneshot":  # Li et al. 2017: cut once, then fine-tune
        return FLAGS.width, target, {
            "importance": "l1", "warmup": common["warmup"], "ramp": 0.0}
    device = device_budget()
    if method in ("tfprune", "random", "l1"):
        importance = {"tfprune": "scores"}.get(method, method)
        return FLAGS.width, 0.0 if device else target, {
            **common, "importance": importance, **device,
            "prune_options": {"seed": FLAGS.seed}}
    if device and method != "dcp":
        raise app.UsageError(
            "--flash_bytes/--arena_bytes need --method=tfprune, random, l1, "
            f"dcp or thin. Received: --method={method}")
    if method == "slimming":
        return FLAGS.width, FLAGS.target, {
            "importance": "bn", "warmup": FLAGS.oneshot_at, "ramp": 0.0,
            "prune_options": {"cost_aware": FLAGS.slimming_cost_aware}}
    if method == "dcp":
        return FLAGS.width, 0.0 if device else target, {
            "importance": "scores", "warmup": 0.0, "ramp": 0.0, **device,
            "prune_options": {"hold_updates": True, "cost_aware": False}}
    raise ValueError(f"Unknown method {method!r}")


def with_round_to(settings):
    """`settings` with --round_to in its `prune_options` (a UsageError for
    a method that does not prune to a budget)."""
    if FLAGS.round_to == 1:
        return settings
    if FLAGS.method in ("unpruned", "thin", "scratch"):
        raise app.UsageError(
            "--round_to rounds the kept channel counts of a pruning run; "
            f"--method={FLAGS.method} prunes nothing. Received: "
            f"--round_to={FLAGS.round_to} --method={FLAGS.method}")
    options = dict(settings.get("prune_options") or {})
    options["round_to"] = FLAGS.round_to
    return {**settings, "prune_options": options}


def trained_model(path, width):
    """--init_from: the trained model, refused unless it is --model at
    --width (the reference the ratios are measured against)."""
    import keras

    model = keras.models.load_model(path, compile=False)
    expected = build(width).count_params()
    if model.count_params() != expected:
        raise app.UsageError(
            f"--init_from={path} has {model.count_params():,} parameters; "
            f"--model={FLAGS.model} --width={width:g} has {expected:,}. Give "
            "the trained model of the same --model and --width.")
    return model


def gamma_sparsity(strength, until_epoch):
    """Network Slimming's sparsity training: after every step until
    `until_epoch`, `gamma -= learning_rate * strength * sign(gamma)` on
    every BatchNorm layer (the L1 subgradient the authors add to gamma's
    gradient); none afterwards (their fine-tuning has no penalty)."""
    import keras

    class GammaSparsity(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.active = epoch < until_epoch

        def on_train_batch_end(self, batch, logs=None):
            if not self.active:
                return
            student = getattr(self.model, "student", self.model)
            optimizer = self.model.optimizer
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            for layer in student.layers:
                if isinstance(layer, keras.layers.BatchNormalization) \
                        and layer.scale:
                    gamma = layer.gamma
                    gamma.assign(gamma - rate * strength * keras.ops.sign(
                        gamma))

    return GammaSparsity()


def main(argv):
    del argv
    for name in ("distill_weight", "distill_temperature", "mirror_teacher"):
        if FLAGS[name].value not in (None, False) and not FLAGS.teacher:
            raise app.UsageError(
                f"--{name} sets the distillation; give --teacher too. "
                f"Received: --{name}={FLAGS[name].value} without --teacher")
    if FLAGS.distill_temperature is not None \
            and not FLAGS.distill_temperature > 0:
        raise app.UsageError(
            "--distill_temperature softens both softmaxes and must be > 0. "
            f"Received: --distill_temperature={FLAGS.distill_temperature}")
    import keras

    from tfprune import data
    from tfprune.pipeline import train_prune_export, write_atomically

    name = run_name() + architecture_source() + {
        None: "", "warmup": "_kdwarmup", "initial": "_kdself"}.get(
            FLAGS.teacher, "_kd") + ("_mirror" if FLAGS.mirror_teacher
                                     else "") + (
        "" if FLAGS.weight_decay == FLAGS["weight_decay"].default
        else f"_wd{FLAGS.weight_decay:g}") + (
        f"_round{FLAGS.round_to}" if FLAGS.round_to > 1 else "")
    report_path = os.path.join(FLAGS.results_dir, name + ".json")
    if os.path.exists(report_path):
        print(f"{report_path} exists; skipping.")
        return
    architecture = pruned_architecture() if FLAGS.method == "scratch" \
        else None
    keras.utils.set_random_seed(FLAGS.seed)
    keras.mixed_precision.set_global_policy(FLAGS.precision)
    width, target, settings = method_settings()
    settings = with_round_to(settings)
    train, val = data.cifar10_pipelines(
        FLAGS.data_dir, FLAGS.val_size, FLAGS.batch_size, FLAGS.seed,
        FLAGS.train_limit)
    if FLAGS.init_from:
        model = trained_model(FLAGS.init_from, width)
    else:
        model = scratch_model(width, *architecture) if architecture \
            else build(width)
    if FLAGS.method == "slimming":
        settings["callbacks"] = [gamma_sparsity(
            FLAGS.slimming_l1, round(FLAGS.oneshot_at * FLAGS.epochs))]
    settings["shrink_for_hold"] = FLAGS.shrink_for_hold and bool(target) \
        and not (FLAGS.flash_bytes or FLAGS.arena_bytes)
    settings["shrink_during_training"] = FLAGS.shrink_during_training
    if FLAGS.teacher:
        settings["teacher"] = FLAGS.teacher if FLAGS.teacher in (
            "warmup", "initial") else keras.models.load_model(FLAGS.teacher)
    settings["mirror_teacher"] = FLAGS.mirror_teacher
    if FLAGS.lr_rewind is not None:
        settings["lr_rewind"] = FLAGS.lr_rewind
    # One work folder per results folder: a 30-epoch run must not resume
    # from the backup of a 15-epoch one.
    work_dir = os.path.join("runs", "accuracy", os.path.basename(
        os.path.normpath(FLAGS.results_dir)), name)
    report = train_prune_export(
        model, train, val, work_dir, target=target, metric=FLAGS.metric,
        recipe=base_recipe(), **settings)
    import tfprune

    reference = tfprune.measure(build(FLAGS.width))
    report.update({
        "method": FLAGS.method,
        "seed": FLAGS.seed,
        "width": width,
        "reference": reference,
        "removed_vs_reference": {
            m: 1 - report["after"][m] / reference[m] for m in reference},
        "command": provenance.command(),
        "commit": provenance.commit(),
        "teacher": FLAGS.teacher,
        "mirror_teacher": FLAGS.mirror_teacher,
        "weight_decay": FLAGS.weight_decay,
        "round_to": FLAGS.round_to,
        "architecture_from": architecture and architecture[0],
        "init_from": FLAGS.init_from,
        "precision": FLAGS.precision,
    })
    os.makedirs(FLAGS.results_dir, exist_ok=True)
    shutil.copyfile(os.path.join(work_dir, "model_int8.tflite"),
                    os.path.join(FLAGS.results_dir, name + ".tflite"))

    def write(path):
        with open(path, "w") as f:
            json.dump(report, f, indent=1)

    write_atomically(report_path, write)
    print(json.dumps({k: report[k] for k in (
        "removed_vs_reference", "val_accuracy_float",
        "val_accuracy_int8_litert", "seconds")}, indent=1))


if __name__ == "__main__":
    app.run(main)
