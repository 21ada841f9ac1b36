"""RewoundCosine: learning-rate rewinding for the hold."""

import keras
import numpy as np
import pytest

import tfprune


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_the_rate_goes_back_when_the_hold_starts_and_decays_to_zero():
    base = keras.optimizers.schedules.CosineDecay(0.1, 1000)
    schedule = tfprune.RewoundCosine(base, at_step=700, to_step=400,
                                     end_step=1000)
    for step in (0, 350, 699):
        assert _lr(schedule, step) == pytest.approx(_lr(base, step))
    assert _lr(schedule, 700) == pytest.approx(_lr(base, 400))
    assert _lr(schedule, 700) > 2 * _lr(base, 699)
    hold = [_lr(schedule, step) for step in range(700, 1001, 50)]
    assert np.all(np.diff(hold) < 0)
    assert hold[-1] == pytest.approx(0.0, abs=1e-7)
    # Halfway through the hold, half the rewound rate (a cosine).
    assert _lr(schedule, 850) == pytest.approx(_lr(base, 400) / 2)


def test_it_survives_a_save_with_the_optimizer(tmp_path):
    base = keras.optimizers.schedules.CosineDecay(0.05, 100,
                                                  warmup_target=0.1,
                                                  warmup_steps=10)
    schedule = tfprune.RewoundCosine(base, 70, 30, 100)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, tfprune.RewoundCosine)
    assert restored.get_config()["at_step"] == 70
    for step in (5, 50, 70, 90):
        assert _lr(restored, step) == pytest.approx(_lr(schedule, step))


@pytest.mark.parametrize("at_step, to_step, end_step", [
    (50, 60, 100), (100, 30, 100), (70, -1, 100)])
def test_bad_rewinds(at_step, to_step, end_step):
    base = keras.optimizers.schedules.CosineDecay(0.1, 100)
    with pytest.raises(ValueError, match=f"Received: to_step={to_step}, "
                       f"at_step={at_step}, end_step={end_step}"):
        tfprune.RewoundCosine(base, at_step, to_step, end_step)
