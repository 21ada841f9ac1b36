"""Validation top-1 of a trained model alone and as a mirror-averaged
teacher (`tfprune.distillation.mirror_averaged`).

    python benchmarks/studies/mirror_teacher.py \
        --model=benchmarks/results/finetune_start/unpruned_params0.94_s0.keras \
        --out=benchmarks/results/studies/mirror_teacher.txt
"""

from absl import app, flags

flags.DEFINE_string("model", None, "A trained .keras image classifier.")
flags.DEFINE_string("data_dir", "../shared/datasets/cifar10",
                    "CIFAR-10 TFRecord folder (train-*.tfrecord).")
flags.DEFINE_integer("val_size", 5000, "Training examples held out.")
flags.DEFINE_string("out", None, "Also write the result to this file.")
flags.mark_flag_as_required("model")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    import tfprune
    from tfprune.pipeline import keras_accuracy

    _, val = tfprune.data.cifar10_pipelines(FLAGS.data_dir, FLAGS.val_size)
    model = keras.models.load_model(FLAGS.model)
    averaged = tfprune.distillation.mirror_averaged(model)
    text = (f"{FLAGS.model}, {FLAGS.val_size} validation images\n"
            f"alone:           {keras_accuracy(model, val):.2%}\n"
            f"mirror-averaged: {keras_accuracy(averaged, val):.2%}\n")
    print(text, end="")
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
