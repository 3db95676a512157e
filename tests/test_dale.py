"""Dale's law survives real optimizer steps with a large learning rate."""

import keras
import numpy as np
import pytest

import ei_zoo

from conftest import outgoing_by_cell_type

# The paper's variants; the design study's (`<base>.<change>`) use the same layers.
SIGNED_VARIANTS = [name for name in ei_zoo.list_variants()
                   if name != "no_dale" and "." not in name]


def train_hard(name, steps=3, learning_rate=1.0, eagerly=None):
    """A few Adam steps on random data with a learning rate far too large.

    The optimizer applies the constraints the same way eagerly and compiled, so by
    default the faster mode runs: eagerly on TensorFlow (four steps are 3-4x faster
    than tracing the step), compiled on JAX (eager dispatch is 2x slower there). The
    compiled step is checked on every backend by `test_magnitudes_are_stored_non_negative`."""
    if eagerly is None:
        eagerly = keras.backend.backend() == "tensorflow"
    keras.utils.set_random_seed(0)
    model = ei_zoo.build_model(name)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, 16)
    ei_zoo.balance_biases(model, images)
    before = ei_zoo.effective_weights(model)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=eagerly)
    model.fit(images, labels, batch_size=8, epochs=steps // 2 + 1, verbose=0)
    return model, images, before, ei_zoo.effective_weights(model)


@pytest.mark.parametrize("name", SIGNED_VARIANTS)
def test_signs_hold_after_training(name):
    model, images, before, after = train_hard(name)
    signs = ei_zoo.get_config(name).signs
    for cell_type, values in outgoing_by_cell_type(after).items():
        if signs[cell_type] > 0:
            assert values.min() >= 0, f"{name}: a {cell_type} weight turned negative"
        else:
            assert values.max() <= 0, f"{name}: a {cell_type} weight turned positive"
    # The steps were real: weights moved, and the constraint had work to do
    # (an update pushed magnitudes across zero, which NonNeg clipped to 0).
    assert any(not np.array_equal(before[k], after[k]) for k in after)
    assert (outgoing_by_cell_type(after)["PN"] == 0).sum() > (
        outgoing_by_cell_type(before)["PN"] == 0).sum()
    # Rates stay non-negative, so a weight's sign is its neuron's effect.
    for key, rates in ei_zoo.activation_model(model)(images).items():
        assert keras.ops.convert_to_numpy(rates).min() >= 0, key


def test_no_dale_develops_mixed_signs():
    _, _, before, after = train_hard("no_dale")
    for cell_type, values in outgoing_by_cell_type(after).items():
        assert values.min() < 0 < values.max(), cell_type
    # Its weights are free variables, not constrained magnitudes.
    model = ei_zoo.build_model("no_dale")
    assert model.get_layer("area3").cell.recurrent_kernel.constraint is None


def test_magnitudes_are_stored_non_negative():
    """Signs are applied in the forward pass; the variables are magnitudes, and stay
    so through the compiled training step that `fit` runs in training."""
    for name in ("standard", "inh_pn"):
        model, *_ = train_hard(name, eagerly=False)
        cell = model.get_layer("area4").cell
        for variable in (cell.input_kernel, cell.recurrent_kernel, cell.input_gate_kernel,
                         cell.output_gate_kernel, model.get_layer("readout").kernel):
            assert keras.ops.convert_to_numpy(variable).min() >= 0, variable.path
        # Area 3's input comes from area 2, which has no cell type: free.
        assert model.get_layer("area3").cell.input_kernel.constraint is None
