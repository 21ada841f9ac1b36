"""Knowledge distillation for pruning: a pruned student learns from a
teacher's logits (Hinton et al. 2015)."""

import collections
import math
import os

import keras

from tfprune.validation import check_positive_int

TEACHER_NAMES = ("initial", "unpruned", "warmup")

Teacher = collections.namedtuple(
    "Teacher", ["model", "label", "snapshot_epoch"], defaults=(None, None))
Teacher.__doc__ = """A teacher to distil from: the Keras model, how the report
names it, and (for a `SnapshotTeacher`) the epoch it is taken at."""


def distillation_loss(temperature):
    """Hinton's distillation loss on logits: `T**2 * KL(softmax(teacher / T)
    || softmax(student / T))`, as a `keras.distillation` loss.

    `keras.distillation.LogitsDistillation(temperature)` with its default
    `loss="kl_divergence"` does not compute this (Keras 3.15): the string
    resolves to the plain function, and the softmax and `T**2` are only
    applied for a `keras.losses.KLDivergence` instance, so the default takes
    the KL of raw logits clipped to [1e-7, 1] (it can be negative and
    carries almost no gradient). Passing the instance gives the real loss.

    >>> distiller = keras.distillation.Distiller(
    ...     teacher, gated, tfprune.distillation_loss(4.0))
    >>> distiller.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> distiller.fit(train, callbacks=[tfprune.TargetRatio(0.9)])
    """
    if isinstance(temperature, bool) or not isinstance(
            temperature, (int, float)) or not temperature > 0:
        raise ValueError("`temperature` must be a number > 0 (softens both "
                         "softmaxes; 4 is usual). Received: "
                         f"temperature={temperature!r}")
    return keras.distillation.LogitsDistillation(
        temperature=temperature, loss=keras.losses.KLDivergence())


class SnapshotTeacher(keras.callbacks.Callback):
    """Distils a pruned student from its own unpruned snapshot: no teacher
    has to be trained first.

    Give it to the `fit` of a `keras.distillation.Distiller` whose teacher
    is a copy of the student's architecture (`keras.models.clone_model`)
    and whose `student_loss_weight` is 1.0 (no distillation yet). At the
    start of epoch `epoch` (with `TargetRatio`, the end of its warm-up:
    `floor(warmup * epochs)`, before any channel is removed) it copies the
    student's weights into the teacher, and from then on the loss is
    `(1 - weight) * student loss + weight * distillation loss`. The
    snapshot must be a good model: a teacher weaker than the pruned
    student holds it back.

    An interrupted run resumes (`keras.callbacks.BackupAndRestore`): the
    teacher's weights are part of the Distiller's, so after the snapshot
    epoch they come back from the backup instead of from the student.

    >>> teacher = keras.models.clone_model(gated)
    >>> distiller = keras.distillation.Distiller(
    ...     teacher, gated, tfprune.distillation_loss(4.0),
    ...     student_loss_weight=1.0)
    >>> distiller.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> distiller.fit(train, epochs=30, callbacks=[
    ...     tfprune.TargetRatio(0.94), tfprune.SnapshotTeacher(epoch=3)])

    Args:
        epoch: 0-based epoch at whose start the snapshot is taken (>= 1:
            the teacher must have trained).
        weight: share of the distillation loss in the total, in (0, 1].
            Default 0.5.
    """

    def __init__(self, epoch, weight=0.5):
        super().__init__()
        check_positive_int("epoch", epoch)
        if isinstance(weight, bool) or not isinstance(
                weight, (int, float)) or not 0 < weight <= 1:
            raise ValueError(
                "`weight` (the distillation loss's share) must be in (0, 1]."
                f" Received: weight={weight!r}")
        self.epoch = epoch
        self.weight = float(weight)
        self.active = False

    def on_train_begin(self, logs=None):
        model = self.model
        if not isinstance(model, keras.distillation.Distiller):
            raise ValueError(
                "SnapshotTeacher trains a keras.distillation.Distiller "
                f"(teacher, student); it was given {type(model).__name__} "
                f"'{model.name}'. Wrap the student in a Distiller whose "
                "teacher is keras.models.clone_model(student).")
        shapes = [tuple(w.shape) for w in model.teacher.weights]
        if shapes != [tuple(w.shape) for w in model.student.weights]:
            raise ValueError(
                f"SnapshotTeacher copies the student '{model.student.name}' "
                f"into the teacher '{model.teacher.name}', but their weights "
                "differ in number or shape. Make the teacher with "
                "keras.models.clone_model(student).")
        self.active = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.active or epoch < self.epoch:
            return
        distiller = self.model
        if epoch == self.epoch:
            distiller.teacher.set_weights(distiller.student.get_weights())
        distiller.student_loss_weight = 1.0 - self.weight
        # The loss weight is a Python number traced into the train and
        # test steps.
        distiller.make_train_function(force=True)
        distiller.make_test_function(force=True)
        self.active = True


@keras.saving.register_keras_serializable(package="tfprune")
class MirrorImage(keras.layers.Layer):
    """Mirrors a batch of images (batch, height, width, channels) left to
    right.

    >>> tfprune.distillation.MirrorImage()(images)
    """

    def call(self, images):
        return keras.ops.flip(images, axis=2)


def mirror_averaged(teacher):
    """`teacher` as a two-view ensemble: its logits averaged over each image
    and the image mirrored left to right.

    The same weights, so no training, and a stronger teacher when the
    training data is flipped at random anyway (CIFAR-10): the VGG-16-BN
    x0.25 start model of docs/results.md classifies 83.86% of the
    validation images alone and 85.36% averaged with the mirror images.
    Its pruned students did not gain from it there (docs/results.md,
    "Pruning a trained model": one seed each, within the run-to-run
    spread). It costs a second teacher forward pass per step. Only for
    image models: a mirrored spectrogram or signal is another input.

    >>> trainer = tfprune.distillation.distiller(
    ...     tfprune.distillation.mirror_averaged(trained), gated)

    Args:
        teacher: a Keras model with one input of shape (batch, height,
            width, channels) and logits out. A model this function made
            comes back as it is.
    """
    if any(isinstance(layer, MirrorImage) for layer in teacher.layers):
        return teacher
    _check_images(teacher)
    spec = teacher.inputs[0]
    images = keras.Input(shape=spec.shape[1:], dtype=spec.dtype,
                         name="images")
    logits = keras.layers.Average(name="mean_logits")(
        [teacher(images), teacher(MirrorImage(name="mirror")(images))])
    return keras.Model(images, logits, name=f"{teacher.name}_mirror_averaged")


def _check_images(model):
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        shapes = [tuple(x.shape) for x in model.inputs]
        raise ValueError(
            f"mirror_averaged mirrors images: the model '{model.name}' "
            "must have one input of shape (batch, height, width, "
            f"channels). Its inputs have shapes {shapes}; distil from the "
            "teacher itself instead.")


def check_mirror_teacher(mirror_teacher, teacher, model):
    """Validates `mirror_teacher` for a run that prunes `model` and distils
    it from `teacher` (a model or a name), before anything trains."""
    if not isinstance(mirror_teacher, bool):
        raise ValueError("`mirror_teacher` must be True or False. "
                         f"Received: mirror_teacher={mirror_teacher!r}")
    if not mirror_teacher:
        return
    if teacher is None:
        raise ValueError("`mirror_teacher=True` averages a teacher's logits "
                         "over mirror images; give `teacher` too.")
    _check_images(model)


def distiller(teacher, student, temperature=4.0, weight=0.5):
    """A built `keras.distillation.Distiller`: loss `(1 - weight) *
    student loss + weight * distillation_loss(temperature)`.

    >>> trainer = tfprune.distillation.distiller(trained, gated)
    >>> trainer.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    """
    trainer = keras.distillation.Distiller(
        teacher=teacher, student=student,
        distillation_losses=distillation_loss(temperature),
        student_loss_weight=1.0 - weight)
    # BackupAndRestore needs a built model.
    shape = [1 if d is None else d for d in student.inputs[0].shape]
    trainer(keras.ops.zeros(shape, student.inputs[0].dtype))
    return trainer


def check_teacher_name(teacher, pruning):
    """Validates a teacher given by name (one of `TEACHER_NAMES`)."""
    if teacher not in TEACHER_NAMES:
        raise ValueError(
            "`teacher` must be a Keras model, \"initial\" (distil from the "
            "model as the run starts: a trained model's own weights), "
            "\"unpruned\" (train an unpruned copy of the model first and "
            "distil from it) or \"warmup\" (distil from the network's own "
            f"warm-up snapshot). Received: teacher={teacher!r}")
    if not pruning:
        raise ValueError(
            f"`teacher={teacher!r}` distils a pruned network from an "
            "unpruned one; without a budget nothing is pruned. Give a "
            "`target` or a trained teacher model.")


def snapshot_epoch(warmup, epochs):
    """The 0-based epoch whose start `teacher="warmup"` snapshots: the first
    one in which channels may be removed (every step before it is warm-up).
    """
    epoch = math.floor(round(warmup * epochs, 6))
    if epoch < 1:
        raise ValueError(
            "`teacher=\"warmup\"` needs at least one whole warm-up epoch to "
            f"train the teacher; warmup={warmup} of epochs={epochs} gives "
            f"{round(warmup * epochs, 6)}. Raise `warmup` or `epochs`.")
    return epoch


def load_teacher(path, model):
    """The teacher saved at `path`, refused if it is not a model of the
    same size as `model` (a stale file of another run)."""
    teacher = keras.models.load_model(path)
    if teacher.count_params() != model.count_params():
        raise ValueError(
            f"{path} holds another model than the one to prune "
            f"({teacher.count_params()} parameters, against "
            f"{model.count_params()}), left by an earlier run in the same "
            "`out_dir`. Remove that folder or choose another `out_dir`.")
    return teacher


def resolve_teacher(teacher, model, gated, pruning, warmup, epochs,
                    snapshot_path):
    """The `Teacher` for `teacher` (None, a Keras model, `"initial"` or
    `"warmup"`) of a run that prunes `gated`, gated from `model`.

    `"initial"` is `model` itself: `tfprune.gate` copies the weights, so
    training the gated copy leaves it as it was. `"warmup"` is a copy of
    `gated` that `SnapshotTeacher` fills (or the snapshot an interrupted
    run saved at `snapshot_path`).
    """
    if teacher is None:
        return None
    if isinstance(teacher, keras.Model):
        return Teacher(teacher, teacher.name)
    check_teacher_name(teacher, pruning)
    if teacher == "initial":
        return Teacher(model, f"initial weights of {model.name}")
    if teacher == "unpruned":
        raise ValueError("`teacher=\"unpruned\"` is trained by the pipeline "
                         "(tfprune.pipeline.train_prune_export).")
    epoch = snapshot_epoch(warmup, epochs)
    copy = keras.models.load_model(snapshot_path) if os.path.exists(
        snapshot_path) else keras.models.clone_model(gated)
    return Teacher(copy, f"warm-up snapshot (start of epoch {epoch + 1})",
                   epoch)
