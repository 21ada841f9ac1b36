"""Knowledge distillation for pruning: a pruned student learns from a
teacher's logits (Hinton et al. 2015)."""

import keras

from tfprune.validation import check_positive_int


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
