"""Trains a small gated CNN with TargetRatio under a tf.distribute strategy
and writes what every replica holds to a JSON file (used by
test_distributed.py, one process per run or per worker).

    python tests/distributed_worker.py single|mirrored|multiworker OUT.json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODE, OUT = sys.argv[1], sys.argv[2]
# Devices and collectives are set up before TensorFlow runs anything.
if MODE == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
elif MODE == "multiworker":  # the cluster comes from TF_CONFIG
    STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
else:
    STRATEGY = tf.distribute.get_strategy()  # the default: one device

import keras  # noqa: E402

import tfprune  # noqa: E402

RATIO, GLOBAL_BATCH, EPOCHS = 0.6, 16, 3


def model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                            name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu",
                            name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu", name="dense")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="out")(x))


def custom_fit(gated, optimizer, train, target):
    """What `fit` does, written out: distributed steps and the callback."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, gated(x, training=True))
            loss = tf.reduce_sum(per_example) / GLOBAL_BATCH
        grads = tape.gradient(loss, gated.trainable_variables)
        optimizer.apply_gradients(zip(grads, gated.trainable_variables))
        return loss

    @tf.function
    def step(batch):
        losses = STRATEGY.run(replica_step, args=batch)
        return STRATEGY.reduce("SUM", losses, axis=None)

    steps = int(train.cardinality())
    callbacks = keras.callbacks.CallbackList(
        [target], model=gated, epochs=EPOCHS, steps=steps)
    batches = STRATEGY.experimental_distribute_dataset(train)
    callbacks.on_train_begin()
    for epoch in range(EPOCHS):
        callbacks.on_epoch_begin(epoch)
        for index, batch in enumerate(batches):
            callbacks.on_train_batch_begin(index)
            callbacks.on_train_batch_end(index, {"loss": float(step(batch))})
        callbacks.on_epoch_end(epoch, {})
    callbacks.on_train_end()


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, 128)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    train = train.with_options(options)
    plain = model()  # outside the scope: the same initial weights everywhere
    with STRATEGY.scope() as scope:
        gated = tfprune.gate(plain)
        optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        gated.compile(optimizer, loss)
    target = tfprune.TargetRatio(
        RATIO, schedule=tfprune.PruningSchedule(update_every=2))
    if MODE == "multiworker":
        # Keras 3.15's `fit` cannot start under MultiWorkerMirroredStrategy
        # on CPU (its symbolic build reduces the tuple of per-replica input
        # batches, which the collective reduce rejects), so the workers run
        # the same steps in a custom loop that drives the callback.
        custom_fit(gated, optimizer, train, target)
    else:
        gated.fit(train, epochs=EPOCHS, verbose=0, callbacks=[target])
    gates = {}
    for layer in gated.layers:
        if isinstance(layer, tfprune.ChannelGate):
            gates[layer.name] = {
                name: [np.asarray(v).tolist() for v in
                       scope.experimental_local_results(
                           getattr(layer, name).value)]
                for name in ("mask", "score")}
    small = tfprune.shrink(gated)
    removed = 1 - tfprune.measure(small)["params"] / plain.count_params()
    logits = small(x[:8], training=False)
    with open(OUT, "w") as f:
        json.dump({"gates": gates, "removed": removed,
                   "replicas": scope.num_replicas_in_sync,
                   "logits": np.asarray(logits).tolist()}, f)


if __name__ == "__main__":
    main()
