"""Where one training step of `standard` spends its time, op by op (TensorFlow's profiler).

Traces a few training steps on a fixed in-memory batch (warm-up excluded),
reads the profiler's trace back (`*.xplane.pb`, TensorFlow's own protobuf)
and sums the duration of every executed op by category (convolutions and
matmuls, element-wise, casts, data movement, reductions, optimizer and
constraints) and by area. TensorFlow runs independent ops side by side on
the two cores, so op times add up to more than the wall time of the step:
the shares are of the summed op time.

It then times the kernels that decide whether bfloat16 pays, alone, in both
dtypes: the convolution of area 3's recurrent projection and of area 4's
input projection, forward, backward to the input and backward to the kernel
(TensorFlow's oneDNN kernels), and a sigmoid with its gradient.

    python benchmarks/profile_step.py [--quick] [--precision float32 mixed_bfloat16]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import common

# Op type -> category; anything not named here is element-wise arithmetic.
CATEGORIES = {
    "convolution / matmul": ("Conv2D", "MatMul", "Conv2DBackpropFilter", "Conv2DBackpropInput",
                             "FusedMatMul", "BatchMatMulV2"),
    "cast": ("Cast",),
    "data movement": ("StridedSlice", "StridedSliceGrad", "ConcatV2", "SplitV", "Split", "Pack",
                      "Unpack", "Tile", "Transpose", "Reshape", "Identity", "Slice", "Fill",
                      "ZerosLike", "BroadcastTo", "Select", "SelectV2"),
    "reduction": ("Sum", "Mean", "Max", "Min", "Prod", "ArgMax"),
    "pooling / batch norm": ("MaxPool", "MaxPoolGrad", "FusedBatchNormV3",
                             "FusedBatchNormGradV3"),
    "variable reads and writes": ("ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp",
                                  "AssignSubVariableOp"),
}
PARTS = ("pixels", "area1", "area2", "area3", "area3_to_area4", "area4", "readout")


def op_category(op_type: str, op_name: str) -> str:
    """Kind of op; ops in the optimizer's name scope (AdamW's update and the `NonNeg`
    constraints it applies after it, `adam_w/Maximum*`) count as the optimizer's."""
    if "adam" in op_name:
        return "optimizer and constraints"
    op_type = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
    for category, types in CATEGORIES.items():
        if op_type in types:
            return category
    return "element-wise"


def op_part(op_name: str) -> str:
    """Which area an op belongs to (forward or its gradient), from its name scope."""
    if "adam" in op_name:
        return "optimizer and constraints"
    for scope in op_name.split("/"):
        name = scope.rsplit("_", 1)[0] if scope.rsplit("_", 1)[-1].isdigit() else scope
        if name in PARTS:
            return name
    return "loss, metrics, other"


def op_durations(logdir: Path):
    """(op name, op type, milliseconds) of every op the trace under `logdir` executed."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    trace = max(logdir.rglob("*.xplane.pb"))
    space = xplane_pb2.XSpace()
    space.ParseFromString(trace.read_bytes())
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "op name:op type" (not executor bookkeeping)
                    op_name, op_type = name.rsplit(":", 1)
                    yield op_name, op_type, event.duration_ps / 1e9


def profile(precision: str, mode: str) -> dict:
    import tensorflow as tf

    from ei_zoo.network.models import resolve_config
    from ei_zoo.training.fit import prepare_model
    from ei_zoo.training.settings import TrainingConfig

    sizes = common.SIZES[mode]
    network = resolve_config("standard", **common.network_overrides(mode))
    model = prepare_model(network, TrainingConfig(batch_size=sizes["batch"], precision=precision))
    step = common.train_step(model, *common.synthetic_batch(sizes["batch"], network.image_size,
                                                            network.num_classes))
    common.seconds_of(step, sizes["warmup"] + 2)
    wall = common.seconds_of(step, sizes["steps"]) / sizes["steps"]
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        common.seconds_of(step, sizes["steps"])
        tf.profiler.experimental.stop()
        durations = list(op_durations(Path(logdir)))
    by_category, by_part, by_type = (collections.Counter() for _ in range(3))
    for op_name, op_type, ms in durations:
        by_category[op_category(op_type, op_name)] += ms / sizes["steps"]
        by_part[op_part(op_name)] += ms / sizes["steps"]
        by_type[op_type.removeprefix("_MklNative").removeprefix("_Mkl")] += ms / sizes["steps"]
    total = sum(by_category.values())

    def shares(counter):
        return {key: {"ms": round(ms, 2), "share": round(ms / total, 3)}
                for key, ms in counter.most_common()}

    result = {"step_ms": round(1000 * wall, 1), "op_ms": round(total, 1),
              "images_per_second": round(sizes["batch"] / wall, 1),
              "by_category": shares(by_category), "by_part": shares(by_part),
              "top_op_types": dict(list(shares(by_type).items())[:12])}
    common.say(f"{precision}: step {result['step_ms']} ms ({result['images_per_second']:.0f} "
               f"img/s), summed op time {result['op_ms']} ms")
    for heading in ("by_category", "by_part", "top_op_types"):
        common.say("  " + ", ".join(f"{key} {value['share']:.0%}"
                                    for key, value in result[heading].items()))
    return result


STACKED = "area 3 recurrent convolution, steps 2-T stacked along the batch"


def kernel_rates(mode: str) -> dict:
    """GFLOP/s (element-wise: G elements/s) of the step's deciding kernels, alone."""
    import tensorflow as tf

    from ei_zoo.network.models import resolve_config

    sizes = common.SIZES[mode]
    network = resolve_config("standard", **common.network_overrides(mode))
    batch, k, principal = sizes["batch"], network.kernel_size, network.principal
    projection = 2 * principal + network.input_gating + network.output_gating
    area3, area4 = network.image_size // 4, network.image_size // 8
    shapes = {  # name: (images, side, input channels); area 4 projects all T frames at once
        "area 3 recurrent convolution": (batch, area3, principal),
        "area 4 input convolution": (batch * network.timesteps, area4, principal),
        # The recurrent kernel acts at steps 2..T: its gradient as one call over those
        # steps stacked along the batch, against one call per step (the rate above).
        STACKED: (batch * (network.timesteps - 1), area3, principal),
    }
    repeat, stride = 5 * sizes["steps"], [1, 1, 1, 1]
    rates = {}
    for dtype in ("float32", "bfloat16"):
        for name, (images, side, channels) in shapes.items():
            x = tf.cast(tf.random.uniform((images, side, side, channels)), dtype)
            w = tf.cast(tf.random.uniform((k, k, channels, projection)), dtype)
            dy = tf.cast(tf.random.uniform((images, side, side, projection)), dtype)
            kernels = {
                "forward": lambda x=x, w=w: tf.nn.conv2d(x, w, 1, "SAME"),
                "gradient to input": lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=stride,
                    padding="SAME"),
                "gradient to kernel": lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=stride,
                    padding="SAME"),
            }
            flop = 2 * images * side * side * k * k * channels * projection
            if name == STACKED:
                kernels = {"gradient to kernel": kernels["gradient to kernel"]}
            for kind, kernel in kernels.items():
                rates[f"{name}, {kind}, {dtype}"] = round(
                    flop / _seconds_per_call(tf.function(kernel), repeat, sizes) / 1e9, 1)
        z = tf.cast(tf.random.normal((batch, area3, area3, 4 * principal)), dtype)

        def sigmoid_and_gradient(z=z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = tf.sigmoid(z)
            return tape.gradient(y, z)

        rates[f"sigmoid and its gradient (G elements/s), {dtype}"] = round(
            int(tf.size(z)) / _seconds_per_call(tf.function(sigmoid_and_gradient), repeat,
                                                  sizes) / 1e9, 2)
    for key, value in rates.items():
        common.say(f"  {key}: {value}")
    return rates


def _seconds_per_call(function, repeat: int, sizes: dict) -> float:
    def call():
        return function().numpy()

    common.seconds_of(call, sizes["warmup"])
    return common.median(common.seconds_of(call, repeat) for _ in range(3)) / repeat


def markdown(results: dict) -> str:
    """Side-by-side tables of the precisions' shares, for benchmarks/README.md."""
    precisions = list(results)
    lines = []
    titles = {"by_category": "kind of op", "by_part": "area (forward and its gradient)",
              "top_op_types": "op type (largest)"}
    for heading, title in titles.items():
        keys = list(dict.fromkeys(k for p in precisions for k in results[p][heading]))
        lines += ["", f"| {title} | " + " | ".join(f"{p} ms/step (share)" for p in precisions)
                  + " |", "|---|" + "---|" * len(precisions)]
        for key in keys:
            cells = [results[p][heading].get(key) for p in precisions]
            lines.append(f"| {key} | " + " | ".join(
                f"{c['ms']:.1f} ({c['share']:.0%})" if c else "-" for c in cells) + " |")
    lines += ["", "| | " + " | ".join(precisions) + " |", "|---|" + "---|" * len(precisions),
              "| step wall time, ms | " + " | ".join(
                  f"{results[p]['step_ms']:.1f}" for p in precisions) + " |",
              "| summed op time, ms | " + " | ".join(
                  f"{results[p]['op_ms']:.1f}" for p in precisions) + " |"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16"])
    args = parser.parse_args(argv)
    mode = common.mode_of(args)
    results = {precision: profile(precision, mode) for precision in args.precision}
    common.say(markdown(results))
    common.say("Kernels alone (GFLOP/s):")
    kernels = kernel_rates(mode)
    common.emit({"mode": mode, "precisions": results, "kernels_alone": kernels,
                 "machine": common.machine()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
