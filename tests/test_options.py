"""`PruningSchedule`, `Ranking`, `DeviceBudget`: what `TargetRatio` takes,
and the flat keywords of tfprune 0.1 that still work with a warning."""

import warnings

import numpy as np
import pytest

import tfprune
from tfprune import pipeline


def test_the_schedule_is_a_cubic_ramp_between_warmup_and_hold():
    schedule = tfprune.PruningSchedule(warmup=0.1, ramp=0.5)
    assert schedule(0.05) == 0.0
    assert schedule(0.35) == pytest.approx(0.875)
    assert schedule(0.6) == schedule(0.9) == 1.0
    assert schedule.hold_start == pytest.approx(0.6)


def test_callback_and_recipes_share_one_default_schedule():
    default = tfprune.PruningSchedule()
    assert tfprune.TargetRatio(0.5).schedule.get_config() == \
        default.get_config()
    assert (pipeline.Recipe().warmup, pipeline.Recipe().ramp) == (
        default.warmup, default.ramp)
    trained = tfprune.TargetRatio.for_trained_model(0.5, calibration_data=(
        np.zeros((4, 8, 8, 1), "float32"),
        np.zeros(4, "int32")))
    fine_tune = pipeline.Recipe.fine_tune()
    assert (trained.schedule.warmup, trained.schedule.ramp) == (
        fine_tune.warmup, fine_tune.ramp)


@pytest.mark.parametrize("make, echoed", [
    (lambda: tfprune.PruningSchedule(warmup=0.5, ramp=0.6), "ramp=0.6"),
    (lambda: tfprune.PruningSchedule(update_every=0), "update_every=0"),
    (lambda: tfprune.PruningSchedule(hold_updates="yes"),
     "hold_updates='yes'"),
    (lambda: tfprune.Ranking(importance="taylor"), "taylor"),
    (lambda: tfprune.Ranking(saliency_decay=1.0), "saliency_decay=1.0"),
    (lambda: tfprune.Ranking(round_to=0), "round_to=0"),
    (lambda: tfprune.Ranking(seed=1.5), "seed=1.5"),
    (lambda: tfprune.DeviceBudget(), "at least one limit"),
    (lambda: tfprune.DeviceBudget(flash_bytes=-1), "flash_bytes=-1"),
    (lambda: tfprune.DeviceBudget(latency_ms=2.0), "latency_table=None"),
    (lambda: tfprune.TargetRatio(0.5, schedule={"warmup": 2.0}),
     "warmup=2.0"),
    (lambda: tfprune.TargetRatio(0.5, ranking="l1"), "ranking='l1'"),
])
def test_each_option_checks_its_values_at_once(make, echoed):
    with pytest.raises(ValueError) as error:
        make()
    assert echoed in str(error.value)


@pytest.mark.parametrize("option", [
    tfprune.PruningSchedule(warmup=0.2, ramp=0.3, update_every=5,
                            hold_updates=True),
    tfprune.Ranking(importance="l1", saliency_decay=0.5, cost_aware=False,
                    round_to=8, min_channels=2, seed=3),
    tfprune.DeviceBudget(flash_bytes=30_000, arena_bytes=8_000),
])
def test_options_round_trip_through_get_config(option):
    clone = type(option).from_config(option.get_config())
    assert clone.get_config() == option.get_config()
    assert repr(clone) == repr(option)


def test_target_ratio_round_trips_with_its_options():
    callback = tfprune.TargetRatio(
        0.5, "macs", schedule=tfprune.PruningSchedule(warmup=0.0, ramp=0.5),
        ranking=tfprune.Ranking(round_to=4),
        device=tfprune.DeviceBudget(flash_bytes=50_000))
    config = callback.get_config()
    assert tfprune.TargetRatio(**config).get_config() == config
    assert config["ranking"]["round_to"] == 4


def test_old_keywords_warn_and_name_the_new_spelling():
    with pytest.warns(DeprecationWarning) as caught:
        old = tfprune.TargetRatio(0.5, warmup=0.1, ramp=0.4, round_to=8,
                                  flash_bytes=40_000)
    said = " ".join(str(w.message) for w in caught)
    assert "schedule=tfprune.PruningSchedule(warmup=0.1, ramp=0.4)" in said
    assert "ranking=tfprune.Ranking(round_to=8)" in said
    assert "device=tfprune.DeviceBudget(flash_bytes=40000)" in said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = tfprune.TargetRatio(
            0.5, schedule=tfprune.PruningSchedule(warmup=0.1, ramp=0.4),
            ranking=tfprune.Ranking(round_to=8),
            device=tfprune.DeviceBudget(flash_bytes=40_000))
    assert old.get_config() == new.get_config()


def test_old_keywords_beside_their_new_object_are_refused():
    with pytest.raises(ValueError, match="pass schedule=tfprune."
                                         r"PruningSchedule\(ramp=0.4\) alone"):
        tfprune.TargetRatio(0.5, schedule=tfprune.PruningSchedule(),
                            ramp=0.4)


def test_an_unknown_keyword_names_what_target_ratio_takes():
    with pytest.raises(TypeError, match=r"\['warm_up'\].*takes ratio"):
        tfprune.TargetRatio(0.5, warm_up=0.1)


def test_for_trained_model_keeps_its_schedule_with_old_keywords():
    data = (np.zeros((4, 8, 8, 1), "float32"),
            np.zeros(4, "int32"))
    with pytest.warns(DeprecationWarning):
        callback = tfprune.TargetRatio.for_trained_model(
            0.5, data, update_every=3)
    assert callback.schedule.get_config() == {
        "warmup": 0.0, "ramp": 0.5, "update_every": 3,
        "hold_updates": False}


def test_old_keywords_left_at_their_none_default_are_not_given():
    """tfprune 0.1 defaulted these to None: passing None still works, and
    silently (it asks for nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback = tfprune.TargetRatio(0.5, flash_bytes=None,
                                       latency_table=None, update_every=None)
    assert callback.device is None
    assert callback.schedule.get_config() == \
        tfprune.PruningSchedule().get_config()
