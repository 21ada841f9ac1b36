"""Pruning a trained model: saliency before the first cut, the fine-tune
recipe, distillation from the initial weights, several ratios at once."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.pipeline import Recipe, train_prune_export

CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[..., None].astype("float32")
    y = digits.target.astype("int32")
    return (x[:1200], y[:1200]), (x[1200:], y[1200:])


def _datasets():
    (x, y), (xv, yv) = _digits()
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(50)
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(100)
    return train, val


@pytest.fixture(scope="module")
def trained():
    """A small_cnn trained on the digits, as a user brings it."""
    keras.utils.set_random_seed(0)
    train, val = _datasets()
    model = tfprune.models.small_cnn()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), CE,
                  metrics=["accuracy"])
    model.fit(train, epochs=6, verbose=0)
    return model


def _copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _scores(gated):
    return [layer.score.numpy() for layer in gated.layers
            if isinstance(layer, tfprune.ChannelGate)]


def test_gather_saliency_fills_the_scores_and_changes_no_weight(trained):
    gated = tfprune.gate(trained)
    before = {v.path: v.numpy().copy() for v in gated.weights
              if "score" not in v.path and "saliency" not in v.path}
    (x, y), _ = _digits()
    assert tfprune.gather_saliency(gated, (x, y), steps=4, loss=CE) == 3
    for score in _scores(gated):
        assert (score > 0).any() and np.isfinite(score).all()
    for variable in gated.weights:
        if variable.path in before:  # kernels, BN statistics, masks
            np.testing.assert_array_equal(variable.numpy(),
                                          before[variable.path])


def test_gather_saliency_says_what_it_needs(trained):
    gated = tfprune.gate(trained)
    (x, y), _ = _digits()
    with pytest.raises(ValueError, match="is not compiled"):
        tfprune.gather_saliency(gated, (x, y))
    with pytest.raises(ValueError, match="needs labelled data.*ndarray"):
        tfprune.gather_saliency(gated, x, loss=CE)
    with pytest.raises(ValueError, match="Received: steps=0"):
        tfprune.gather_saliency(gated, (x, y), steps=0, loss=CE)
    with pytest.raises(ValueError, match="no ChannelGate layers"):
        tfprune.gather_saliency(trained, (x, y), loss=CE)


def test_prune_now_warns_that_fresh_scores_rank_as_ties(trained):
    gated = tfprune.gate(trained)
    with pytest.warns(UserWarning, match="rank as ties"):
        tfprune.prune_now(gated, 0.5)
    gated = tfprune.gate(trained)
    tfprune.gather_saliency(gated, _digits()[0], steps=2, loss=CE)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*rank as ties")
        tfprune.prune_now(gated, 0.5)


def test_saliency_before_the_first_cut_keeps_the_trained_accuracy(trained):
    """A one-shot half cut of a trained model ranked by measured saliency
    keeps its accuracy; ranking tied scores does not.

    Measured over three training seeds of this fixture (6 epochs): the
    saliency cut kept 0.905/0.901/0.866 of 0.903/0.899/0.866, the tied
    cut 0.859/0.871/0.492. (At a 70% cut saliency won in two of three
    seeds, so that ratio makes no robust test.)
    """
    _, (xv, yv) = _digits()

    def accuracy(model):
        logits = model.predict(xv, verbose=0)
        return np.mean(np.argmax(logits, -1) == yv)

    def accuracy_after_cut(prime):
        gated = tfprune.gate(trained)
        if prime:
            tfprune.gather_saliency(gated, _digits()[0], steps=8, loss=CE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tfprune.prune_now(gated, 0.5)
        return accuracy(gated)

    base, primed = accuracy(trained), accuracy_after_cut(True)
    assert primed >= base - 0.02
    assert primed > accuracy_after_cut(False)


def test_one_shot_target_ratio_measures_saliency_first(trained):
    gated = tfprune.gate(trained)
    gated.compile(keras.optimizers.SGD(0.01), CE)
    train, _ = _datasets()
    prune = tfprune.TargetRatio(
        0.7, calibration_data=train,
        schedule=tfprune.PruningSchedule(warmup=0, ramp=0))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*rank as ties")
        gated.fit(train, epochs=1, verbose=0, callbacks=[prune])
    assert all((s > 0).any() for s in _scores(gated))
    # Without labels to measure the loss on, it says the cut ranks ties.
    gated = tfprune.gate(trained)
    gated.compile(keras.optimizers.SGD(0.01), CE)
    inputs_only = train.map(lambda x, y: x)
    with pytest.warns(UserWarning, match="rank as ties"):
        gated.fit(train, epochs=1, verbose=0, callbacks=[tfprune.TargetRatio(
            0.7,
            calibration_data=inputs_only,
            schedule=tfprune.PruningSchedule(warmup=0, ramp=0))])


def test_fine_tune_recipe():
    recipe = Recipe.fine_tune(epochs=10, ramp=0.4)
    assert (recipe.epochs, recipe.warmup, recipe.ramp) == (10, 0.0, 0.4)
    assert recipe.learning_rate == 0.02 and recipe.lr_warmup_epochs == 0
    assert Recipe().learning_rate == 0.1 and Recipe().warmup == 0.05


@pytest.mark.parametrize("mirror", [False, True])
def test_prune_a_trained_model_distilled_from_its_initial_weights(
        trained, tmp_path, mirror):
    train, val = _datasets()
    start = _copy(trained)
    initial = [w.copy() for w in start.get_weights()]
    base = tfprune.pipeline.keras_accuracy(start, val)
    report = train_prune_export(
        start, train, val, str(tmp_path), target=0.5, metric="macs",
        recipe=Recipe.fine_tune(epochs=3), teacher="initial",
        mirror_teacher=mirror, tflm_samples=0, verbose=0)
    assert report["distillation"]["teacher"] == (
        "initial weights of small_cnn"
        + (", averaged with its mirror images" if mirror else ""))
    assert report["schedule"]["learning_rate"] == 0.02
    assert abs(report["removed"]["macs"] - 0.5) <= 0.005
    # A mirrored digit is often another digit: the mirror-averaged teacher
    # is a worse one here (it is meant for data flipped in training).
    assert report["val_accuracy_float"] >= base - (0.1 if mirror else 0.03)
    assert min(report["history"]["distillation_loss"]) > 0
    # The teacher is the model the run started from: it did not train.
    for now, then in zip(start.get_weights(), initial):
        np.testing.assert_array_equal(now, then)


def test_train_prune_export_names_an_unknown_setting(tmp_path):
    train, val = _datasets()
    with pytest.raises(TypeError, match=r"unknown settings \['epoch'\]"):
        train_prune_export(tfprune.models.small_cnn(), train, val,
                           str(tmp_path), epoch=3)


def test_several_ratios_at_once_are_all_met(trained):
    gated = tfprune.gate(trained)
    gated.compile(keras.optimizers.SGD(0.01), CE)
    train, _ = _datasets()
    target = {"params": 0.8, "macs": 0.6}
    prune = tfprune.TargetRatio(
        target, calibration_data=train,
        schedule=tfprune.PruningSchedule(warmup=0, ramp=0.5))
    history = gated.fit(train, epochs=2, verbose=0, callbacks=[prune])
    assert "pruned_budget" in history.history
    assert prune.get_config()["ratio"] == target
    before, after = tfprune.measure(trained), tfprune.measure(
        tfprune.shrink(gated))
    removed = {m: 1 - after[m] / before[m] for m in target}
    assert all(removed[m] >= target[m] - 1e-9 for m in target), removed
    # The tighter budget is spent as fully as one channel allows.
    assert min(removed[m] - target[m] for m in target) <= 0.005, removed


def test_prune_now_meets_several_ratios(trained):
    gated = tfprune.gate(trained)
    tfprune.gather_saliency(gated, _digits()[0], steps=2, loss=CE)
    tfprune.prune_now(gated, {"params": 0.5, "macs": 0.7})
    before, after = tfprune.measure(trained), tfprune.measure(
        tfprune.shrink(gated))
    assert 1 - after["params"] / before["params"] >= 0.5
    assert 1 - after["macs"] / before["macs"] >= 0.7


@pytest.mark.parametrize("ratio, message", [
    ({}, "empty dict"),
    ({"flash": 0.5}, "use flash_bytes"),
    ({"params": 1.5}, r"Received: ratio\['params'\]=1.5"),
])
def test_bad_ratio_dicts(ratio, message):
    with pytest.raises(ValueError, match=message):
        tfprune.TargetRatio(ratio)


def test_target_ratio_preset_for_a_trained_model(trained):
    train, _ = _datasets()
    prune = tfprune.TargetRatio.for_trained_model(0.5, train, metric="macs")
    config = prune.get_config()
    assert (config["schedule"]["warmup"], config["schedule"]["ramp"],
            config["metric"]) == (
        0.0, 0.5, "macs")
    with pytest.raises(ValueError, match="needs `calibration_data`"):
        tfprune.TargetRatio.for_trained_model(0.5)


# The guide's fine-tune block (docs/prune-a-trained-model.md) runs in
# tests/test_docs.py, with the same checks.
