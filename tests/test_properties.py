"""Dale's law under random configurations (docs/science.md, section 2), checked with hypothesis.

Each example builds a small network with drawn channel counts, kernel size, T,
image size, sign rule and learning rate, takes a few Adam steps on random
data, and checks every sign rule on the effective weights and that every PN,
IG and OG rate stays >= 0.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ei_zoo

from conftest import outgoing_by_cell_type

channels = st.integers(1, 6)


# T = 1 leaves the recurrent kernels without a gradient (h = 0 at the only step).
@pytest.mark.filterwarnings("ignore:Gradients do not exist")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dale=st.sampled_from(["standard", "inh_pn", "no_dale"]),
    principal=channels, input_gating=channels, output_gating=channels,
    area1_channels=channels, area2_channels=channels,
    kernel_size=st.sampled_from([1, 3, 5]),
    timesteps=st.integers(1, 3),
    image_size=st.sampled_from([8, 16]),
    log_learning_rate=st.floats(math.log(1e-3), math.log(10.0)),
    seed=st.integers(0, 2**16),
)
def test_sign_rules_and_rates_hold_after_training(dale, principal, input_gating, output_gating,
                                                  area1_channels, area2_channels, kernel_size,
                                                  timesteps, image_size, log_learning_rate,
                                                  seed):
    keras.utils.set_random_seed(seed)
    model = ei_zoo.build_model(
        "standard", dale=dale, principal=principal, input_gating=input_gating,
        output_gating=output_gating, area1_channels=area1_channels,
        area2_channels=area2_channels, kernel_size=kernel_size, timesteps=timesteps,
        image_size=image_size)
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (8, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, 10, 8)
    ei_zoo.balance_biases(model, images)
    model.compile(optimizer=keras.optimizers.Adam(math.exp(log_learning_rate)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # 4 steps: tracing a graph would cost more than it saves
    before = ei_zoo.effective_weights(model)
    model.fit(images, labels, batch_size=4, epochs=2, verbose=0)  # 4 optimizer steps
    after = ei_zoo.effective_weights(model)
    assert any(not np.array_equal(before[key], after[key]) for key in after), "no step was taken"

    signs = ei_zoo.get_config("standard").replace(dale=dale).signs
    for cell_type, values in outgoing_by_cell_type(after).items():
        assert np.isfinite(values).all(), f"{cell_type}: non-finite weight"
        if signs[cell_type] == 1:
            assert values.min() >= 0, f"{dale}: a {cell_type} weight turned negative"
        elif signs[cell_type] == -1:
            assert values.max() <= 0, f"{dale}: a {cell_type} weight turned positive"

    # Fresh images, not the ones trained on: rates are non-negative for any input.
    probe = rng.uniform(0, 255, (4, image_size, image_size, 3)).astype("float32")
    for key, rates in ei_zoo.activation_model(model)(probe).items():
        rates = keras.ops.convert_to_numpy(rates)
        assert rates.shape[1] == timesteps
        assert np.isfinite(rates).all() and rates.min() >= 0, f"{dale}: {key} rate below 0"
