"""narrow() + carry_optimizer(): a gated model rebuilt narrower mid-training
computes, and trains, exactly as the masked one."""

import keras
import numpy as np
import pytest

import tfprune
from conftest import randomize_bn, randomize_scores
from tfprune.graph import ChannelGraph, GraphError
from tfprune.surgery import carry_optimizer, narrow


def _gated(model):
    gated = tfprune.gate(model)
    randomize_bn(gated)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5)
    return gated


def _half_of_masked(gated):
    """Keeps every unmasked channel and the first half of the masked ones
    (those can still come back)."""
    keep = []
    for group in ChannelGraph(gated).groups:
        mask = group.gate.mask.numpy().astype(bool)
        off = np.flatnonzero(~mask)
        k = mask.copy()
        k[off[:len(off) // 2]] = True
        keep.append(k)
    return keep


MODELS = {
    "vgg": lambda: tfprune.models.vgg16_cifar(width=0.125),
    "resnet": lambda: tfprune.models.resnet_cifar(depth=8, width=0.5),
    "mobilenet": lambda: tfprune.models.mobilenet_v2_cifar(width=0.25),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_narrowed_outputs_equal_the_masked_model(name):
    gated = _gated(MODELS[name]())
    narrowed, _ = narrow(gated, _half_of_masked(gated))
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype(
        "float32")
    for training in (False, True):
        a = keras.ops.convert_to_numpy(gated(x, training=training))
        b = keras.ops.convert_to_numpy(narrowed(x, training=training))
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert narrowed.count_params() < gated.count_params()
    # The ratio is still a fraction of the unpruned network.
    small_a, small_b = tfprune.shrink(gated), tfprune.shrink(narrowed)
    assert small_a.count_params() == small_b.count_params()
    gates = [g for g in narrowed.layers if isinstance(g, tfprune.ChannelGate)]
    assert any(g.original_channels > g.channels for g in gates)
    plan_a = tfprune.pruning.BudgetPlan(gated)
    plan_b = tfprune.pruning.BudgetPlan(narrowed)
    assert plan_b.full_cost == plan_a.full_cost
    assert plan_b.removed_ratio() == pytest.approx(plan_a.removed_ratio())


def _compiled(model, optimizer):
    model.compile(optimizer=optimizer, loss=keras.losses.
                  SparseCategoricalCrossentropy(from_logits=True))
    return model


OPTIMIZERS = {
    "sgd_nesterov": lambda: keras.optimizers.SGD(
        keras.optimizers.schedules.CosineDecay(0.05, 100), momentum=0.9,
        nesterov=True, weight_decay=5e-4),
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "adamw_amsgrad": lambda: keras.optimizers.AdamW(1e-3, amsgrad=True),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_after_the_rebuild_matches_the_masked_model(name):
    gated = _compiled(_gated(tfprune.models.vgg16_cifar(width=0.125)),
                      OPTIMIZERS[name]())
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    gated.fit(x, y, batch_size=8, epochs=1, verbose=0)  # slots not zero
    narrowed, transfer = narrow(gated, _half_of_masked(gated))
    old_opt = gated.optimizer
    new_opt = old_opt.__class__.from_config(old_opt.get_config())
    _compiled(narrowed, new_opt)
    new_opt.build(narrowed.trainable_variables)
    carry_optimizer(old_opt, new_opt,
                    {id(layer): layer for layer in gated.layers}, transfer)
    assert int(new_opt.iterations) == int(old_opt.iterations) == 2
    # Every slot is the old one, cut like its weight.
    for layer in gated.layers:
        if id(layer) not in transfer or not layer.trainable_weights:
            continue
        new_layer, slice_fn = transfer[id(layer)]
        for attr in tfprune.surgery._slot_lists(old_opt):
            old_slots, new_slots = getattr(old_opt, attr, None), getattr(
                new_opt, attr, None)
            if not old_slots:
                continue
            arrays = [old_slots[old_opt._get_variable_index(w)].numpy()
                      if w.trainable else w.numpy() for w in layer.weights]
            for w, want in zip(new_layer.weights, slice_fn(arrays)):
                if w.trainable:
                    got = new_slots[new_opt._get_variable_index(w)].numpy()
                    np.testing.assert_array_equal(got, want)
    if name == "adamw_amsgrad":
        # Exact here; a few more steps amplify float32 rounding beyond
        # any fixed tolerance (a 1e-6 nudge of one kernel moves block1 by
        # 1e-4 after 4 AdamW steps), so the steps are checked on SGD, Adam.
        return
    for model in (gated, narrowed):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    # After four more steps the kept weights are those of the masked run.
    for layer in gated.layers:
        if id(layer) not in transfer or not layer.weights:
            continue
        new_layer, slice_fn = transfer[id(layer)]
        expected = slice_fn([w.numpy() for w in layer.weights])
        for w, want, got in zip(layer.weights, expected,
                                new_layer.get_weights()):
            # A gate's saliency sums |g * a| over the steps in float32,
            # in an order that varies with the machine's load (1.04e-3
            # apart once).
            rtol = 5e-3 if w is getattr(layer, "saliency", None) else 1e-4
            # Adam divides by sqrt(v): where a gradient is near 0 the
            # rounding of the narrower sums moves a weight by up to 9e-5
            # in 4 steps (seen under load), a tenth of one step's 1e-3.
            # Fresh slots instead of carried ones: up to 5.9e-3 (measured).
            atol = 2.5e-4 if name == "adam" else 2e-5
            np.testing.assert_allclose(got, want, atol=atol, rtol=rtol,
                                       err_msg=w.path)


def test_narrow_refuses_to_drop_a_channel_that_is_on():
    gated = _gated(tfprune.models.vgg16_cifar(width=0.125))
    keep = [np.zeros(g.size, bool) | (np.arange(g.size) > 0)
            for g in ChannelGraph(gated).groups]
    with pytest.raises(GraphError, match="masked channels only"):
        narrow(gated, keep)


def test_a_narrowed_model_saves_and_loads(tmp_path):
    gated = _gated(tfprune.models.vgg16_cifar(width=0.125))
    narrowed, _ = narrow(gated, _half_of_masked(gated))
    narrowed.save(tmp_path / "n.keras")
    loaded = keras.models.load_model(tmp_path / "n.keras")
    gates = [g for g in loaded.layers if isinstance(g, tfprune.ChannelGate)]
    assert [g.original_channels for g in gates] == [
        g.original_channels for g in narrowed.layers
        if isinstance(g, tfprune.ChannelGate)]
