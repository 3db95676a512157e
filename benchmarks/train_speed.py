"""Training speed of `standard` against the same network built on Keras's ConvLSTM2D.

ConvLSTM2D is the most optimised layer of the same kind that users know, so
it is the reference: same front end, same readout, same T, same optimizer,
loss and dtype policy; only the two recurrent areas differ. Both run side by
side in one process on a fixed in-memory batch (no input pipeline), warm-up
excluded, in alternating repetitions, and the median is reported.

Each precision also reports how much of the machine the step uses: the
useful FLOP/s of `standard` (3 x 2 x its forward multiply-accumulates per
image, times images/s) over the FLOP/s of its largest kernel alone, area 3's
recurrent convolution forward and backward, at the same batch and precision.

    python benchmarks/train_speed.py [--quick] [--precision float32 ...]
"""

from __future__ import annotations

import argparse

import common


def build_reference(config):
    """`build_model`'s network with `keras.layers.ConvLSTM2D` as areas 3 and 4.

    Build it under the dtype policy to compare (`ei_zoo.network.models.dtype_policy`).
    The filters equal the E/I areas' PN channels (64), so both networks pass
    the same number of channels from area to area.
    """
    import keras
    from keras import ops

    from ei_zoo.network.layers import SequenceMaxPooling2D
    from ei_zoo.network.models import front_end

    images, area2 = front_end(config)
    frames = ops.repeat(ops.expand_dims(area2, 1), config.timesteps, axis=1)
    area3 = keras.layers.ConvLSTM2D(config.principal, config.kernel_size, padding="same",
                                    return_sequences=True, name="area3")(frames)
    area4_input = SequenceMaxPooling2D(2, name="area3_to_area4")(area3)
    area4 = keras.layers.ConvLSTM2D(config.principal, config.kernel_size, padding="same",
                                    return_sequences=True, name="area4")(area4_input)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(area4[:, -1])
    logits = keras.layers.Dense(config.num_classes, dtype="float32", name="readout")(pooled)
    return keras.Model(images, logits, name="convlstm2d_reference")


def compile_like_prepare_model(model, training):
    """The optimizer, loss and metrics `ei_zoo.training.fit.prepare_model` compiles with."""
    import keras

    from ei_zoo.training.fit import make_optimizer

    model.compile(
        optimizer=make_optimizer(training),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def recurrent_convolution_flops(network, batch: int, precision: str, sizes: dict) -> float:
    """FLOP/s of area 3's recurrent convolution alone, forward and backward.

    The PN -> [g, f, IG, OG] convolution of one step, [batch, S/4, S/4,
    principal] -> projection channels, with the gradients of its input and
    its kernel: the largest kernel of a `standard` step, so the ceiling that
    `train_utilization` compares the whole step against.
    """
    import tensorflow as tf

    dtype = "bfloat16" if precision == "mixed_bfloat16" else "float32"
    size, k = network.image_size // 4, network.kernel_size
    projection = 2 * network.principal + network.input_gating + network.output_gating
    rates = tf.cast(tf.random.uniform((batch, size, size, network.principal)), dtype)
    upstream = tf.cast(tf.random.normal((batch, size, size, projection)), dtype)
    kernel = tf.Variable(tf.random.uniform((k, k, network.principal, projection), 0, 0.05))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(rates)
            drive = tf.nn.conv2d(rates, tf.cast(kernel, dtype), 1, "SAME")
        # The drive is returned too: no gradient needs it, so otherwise
        # TensorFlow would prune the forward convolution away.
        return [drive, *tape.gradient(drive, [rates, kernel], output_gradients=upstream)]

    def step():
        return [tensor.numpy() for tensor in forward_backward()]

    common.seconds_of(step, sizes["warmup"])
    repeat = 5 * sizes["steps"]
    seconds = common.median(common.seconds_of(step, repeat) for _ in range(sizes["pairs"]))
    flop = 3 * 2 * batch * size * size * k * k * network.principal * projection
    return flop * repeat / seconds


def compare(precision: str, mode: str) -> dict:
    """Images/s of `standard` and of the ConvLSTM2D reference under one precision."""
    import keras

    from ei_zoo.network.models import dtype_policy, multiply_accumulates, resolve_config
    from ei_zoo.training.fit import prepare_model
    from ei_zoo.training.settings import TrainingConfig

    sizes = common.SIZES[mode]
    batch = sizes["batch"]
    training = TrainingConfig(batch_size=batch, precision=precision)
    network = resolve_config("standard", **common.network_overrides(mode))
    standard = prepare_model(network, training)
    keras.utils.set_random_seed(training.seed)
    with dtype_policy(precision):
        reference = compile_like_prepare_model(build_reference(network), training)
    images, labels = common.synthetic_batch(batch, network.image_size, network.num_classes)
    steps = {"standard": common.train_step(standard, images, labels),
             "convlstm2d": common.train_step(reference, images, labels)}
    for step in steps.values():  # tracing and the first, slow steps are not measured
        common.seconds_of(step, sizes["warmup"])
    seconds = common.alternating(steps, sizes["pairs"], sizes["steps"])
    rates = {name: [sizes["steps"] * batch / s for s in values]
             for name, values in seconds.items()}
    ratios = [a / b for a, b in zip(rates["standard"], rates["convlstm2d"])]
    useful = 3 * 2 * multiply_accumulates(network) * common.median(rates["standard"])
    ceiling = recurrent_convolution_flops(network, batch, precision, sizes)
    result = {
        "standard_images_per_second": round(common.median(rates["standard"]), 1),
        "convlstm2d_images_per_second": round(common.median(rates["convlstm2d"]), 1),
        "ratio": round(common.median(ratios), 3),
        "pair_ratios": [round(r, 3) for r in ratios],
        "standard_step_seconds": round(batch / common.median(rates["standard"]), 4),
        "convlstm2d_step_seconds": round(batch / common.median(rates["convlstm2d"]), 4),
        "standard_useful_gflops": round(useful / 1e9, 1),
        "recurrent_convolution_gflops": round(ceiling / 1e9, 1),
        "utilization": round(useful / ceiling, 3),
        "standard_parameters": standard.count_params(),
        "convlstm2d_parameters": reference.count_params(),
        "batch_size": batch,
        "steps_per_repetition": sizes["steps"],
        "repetitions": sizes["pairs"],
        "warmup_steps": sizes["warmup"],
    }
    common.say(f"train {precision}: standard {result['standard_images_per_second']:.0f} img/s, "
               f"ConvLSTM2D {result['convlstm2d_images_per_second']:.0f} img/s, "
               f"ratio {result['ratio']:.2f} (pairs {result['pair_ratios']}); useful "
               f"{result['standard_useful_gflops']:.0f} GFLOP/s, area 3's recurrent convolution "
               f"alone {result['recurrent_convolution_gflops']:.0f} GFLOP/s, utilization "
               f"{result['utilization']:.2f}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16", "mixed_float16"])
    args = parser.parse_args(argv)
    mode = common.mode_of(args)
    by_precision = {precision: compare(precision, mode) for precision in args.precision}
    import tensorflow as tf

    devices = [device.name for device in tf.config.list_physical_devices()]
    common.emit({"mode": mode, "precisions": by_precision, "devices": devices,
                 "peak_rss_mib": common.peak_rss_mib()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
