"""The faster training step computes what the step before issue 9 computed, on the
same weights: forward pass, loss and every gradient (tests/make_step_reference.py
stored them from commit e3a735f).

float32 must agree to float32 rounding. Under mixed_bfloat16 the step now runs
its element-wise gate arithmetic in float32 between bfloat16 convolutions
(`EIConvLSTMCell.call`), so it rounds at other places than before. Its
outputs and gradients must then be as close to the float32 maths as the old
bfloat16 step's were, and differ from the old bfloat16 step by no more than
bfloat16 rounding does (the old step's distance from float32).
"""

from pathlib import Path

import keras
import numpy as np
import pytest
from make_step_reference import NETWORK, PRECISIONS, REFERENCE, step_values

from ei_zoo.network.models import build_model, dtype_policy

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="the reference gradients are TensorFlow's")

# Measured when the speed-ups landed: float32 differs from the old step by at
# most 3.4e-7 of each output's largest value; bfloat16 by at most 0.55x the old
# bfloat16 step's own distance from float32, plus 0.3% (area-3 gate biases),
# and is at most 1.3x as far from float32 as the old one (area-2 gamma).
# Since areas 1-2 train with TensorFlow's fused batch norm, which sums in
# another order, area 1's gamma and beta gradients (sums over 16,384
# positions that nearly cancel) differ by up to 8.8e-6; with Keras's layer
# in its place the largest difference is 3.4e-7 again. Since the cell keeps
# c and the drives' sum in float32, bfloat16 outputs and gradients are at
# most 1.5x as far from float32 as the old step's (area 3's output gate
# bias), the loss 1.5e-5 of its value. A wrong formula moves values by
# orders of magnitude more than the bound.
FLOAT32_FRACTION = 5e-5
ROUNDING_FACTOR, ROUNDING_FLOOR = 2.0, 1e-3


@pytest.fixture(scope="module")
def stored():
    return dict(np.load(REFERENCE))


def _native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (Linux's cpuinfo flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# The stored mixed_bfloat16 values were computed with native bfloat16 kernels. A CPU
# without them (AVX2 only) emulates bfloat16 and rounds at other places: there the old
# step's own area-4 kernel gradients differ from the stored ones by 10% of their largest.
_EMULATED = pytest.mark.skipif(
    not _native_bfloat16(), reason="this CPU emulates bfloat16; the stored bfloat16 "
    "reference needs native bfloat16 kernels (avx512_bf16 or AMX)")


@pytest.fixture(scope="module", params=[
    pytest.param(precision, marks=() if precision == "float32" else _EMULATED)
    for precision in PRECISIONS])
def computed(request, stored):
    weights = [stored[f"weight/{i}"] for i in range(sum(k.startswith("weight/") for k in stored))]
    with dtype_policy(request.param):
        model = build_model("standard", **NETWORK)
    model.set_weights(weights)
    return request.param, step_values(model, stored["images"], stored["labels"])


def largest_difference(value, reference):
    """max |value - reference| as a fraction of the reference's largest magnitude."""
    scale = max(float(np.abs(reference).max()), 1e-12)
    return float(np.abs(value.astype("float64") - reference).max()) / scale


def test_same_outputs_loss_and_gradients(computed, stored):
    precision, values = computed
    expected = {key.removeprefix(f"{precision}/"): value for key, value in stored.items()
                if key.startswith(f"{precision}/")}
    assert values.keys() == expected.keys()
    for key, value in values.items():
        difference = largest_difference(value, expected[key])
        if precision == "float32":
            assert difference <= FLOAT32_FRACTION, (key, difference)
            continue
        exact = stored[f"float32/{key}"]
        rounding = largest_difference(expected[key], exact)  # the old step's bfloat16 error
        bound = ROUNDING_FACTOR * rounding + ROUNDING_FLOOR
        assert difference <= bound, (key, "new vs old", difference, bound)
        assert largest_difference(value, exact) <= bound, (key, "new vs float32", bound)
