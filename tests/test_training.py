import keras
import numpy as np
import pandas as pd
import pytest

from ei_zoo import data
from ei_zoo.network.config import target_slice
from ei_zoo.network.models import activation_model, build_model
from ei_zoo.network.responses import silent_units
from ei_zoo.training.callbacks import SilentUnits
from ei_zoo.training.fit import first_images, prepare_model
from ei_zoo.training.settings import TrainingConfig

from conftest import TINY


def test_one_epoch_on_real_images_lowers_the_loss(cifar_dir):
    """One epoch on 1,024 real CIFAR-10 images lowers the test-set loss."""
    config = TrainingConfig(epochs=1, limit=1024, batch_size=64)
    train = data.train_dataset(config.batch_size, cifar_dir, config.limit, config.seed)
    held_out = data.test_dataset(256, cifar_dir, limit=512)
    model = prepare_model("standard", config, first_images(train, 256))
    before = model.evaluate(held_out, return_dict=True, verbose=0)["loss"]
    history = model.fit(train, epochs=1, shuffle=False, verbose=0)
    after = model.evaluate(held_out, return_dict=True, verbose=0)["loss"]
    assert np.isfinite(history.history["loss"][0])
    assert after < before - 0.02, (before, after)


def test_balanced_model_starts_at_chance_loss(cifar_dir):
    """Balanced biases give every class the same mean logit: loss starts near ln 10."""
    config = TrainingConfig(epochs=1, limit=512, precision="float32")
    train = data.train_dataset(128, cifar_dir, 512)
    for variant in ("standard", "inh_pn"):
        model = prepare_model(variant, config, first_images(train, 256))
        loss = model.evaluate(train, return_dict=True, verbose=0)["loss"]
        assert abs(loss - np.log(10)) < 0.15, (variant, loss)


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("batch_size", -1), ("precision", "float8"), ("learning_rate", 0.0),
])
def test_bad_training_config(field, value):
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**{field: value})


def test_silent_units_are_logged_per_population_and_epoch(images, tmp_path):
    """`SilentUnits` writes each population's silent fraction into the history;
    a population whose drive is cut (zero input, negative bias) counts as silent."""
    model = build_model("standard", **TINY)
    cell = model.get_layer("area4").cell
    silenced = target_slice(cell.target_sizes, "OG")  # area-4 OG's bias block
    bias = cell.bias.numpy()
    bias[silenced] = -1e3
    cell.bias.assign(bias)
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    log = tmp_path / "history.csv"
    model.fit(images, np.arange(4), epochs=2, verbose=0,
              callbacks=[SilentUnits(images), keras.callbacks.CSVLogger(log)])
    history = pd.read_csv(log)
    assert history["silent_area4_OG"].tolist() == [1.0, 1.0]
    assert history["silent_area3_OG"].tolist() == [0.0, 0.0]
    assert {f"silent_area{a}_{t}" for a in (3, 4) for t in ("PN", "IG", "OG")} <= set(history)
    counts = silent_units(activation_model(model), [images[:2], images[2:]])
    assert counts["area4"]["OG"] == TINY["output_gating"] and counts["area3"]["PN"] == 0


def test_silence_loss_counts_only_channels_silent_on_the_whole_batch():
    from ei_zoo.network.cell import silence_loss

    z = np.full((2, 3, 3, 4), -1.0, "float32")
    z[1, 2, 0, 0] = 0.2    # channel 0 fires at one position of one image: no loss
    z[..., 1] = 0.5        # channel 1 fires everywhere: no loss
    z[..., 2] = -0.5       # channels 2 and 3 are silent, at -0.5 and -1
    loss = float(keras.ops.convert_to_numpy(silence_loss([z, z[..., :2]])))
    assert loss == pytest.approx((0.5**2 + 1.0**2) / 4)


@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize("silent", [True, False])
def test_silence_loss_gradient_is_that_of_its_formula(silent, graph):
    """The gradient reaches each silent channel's maximum (shared among ties, as a max's
    gradient is), and is exactly zero when every channel fires; eager and in a graph."""
    import tensorflow as tf

    from ei_zoo.network.cell import silence_loss

    def value_and_gradient(function, z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = function([z[..., :2], z[..., 1:]])  # only the second has silent channels
        return loss, tape.gradient(loss, z, unconnected_gradients="zero")

    def formula(preactivations):
        peaks = [tf.reduce_max(p, axis=(0, 1, 2)) for p in preactivations]
        return sum(tf.reduce_mean(tf.nn.relu(-peak) ** 2) for peak in peaks)

    z = np.random.default_rng(0).normal(0.0, 1.0, (4, 3, 3, 5)).astype("float32")
    z[..., 2] = -np.abs(z[..., 2]) - 0.1  # channel 2 silent, its maximum at one position
    z[..., 3] = -0.7                      # channel 3 silent, 36 tied maxima
    if not silent:
        z[..., 2:4] += 5.0
    z = tf.constant(z)
    compute = tf.function(value_and_gradient) if graph else value_and_gradient
    loss, gradient = compute(silence_loss, z)
    formula_loss, expected = value_and_gradient(formula, z)
    gradient, expected = gradient.numpy(), expected.numpy()
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=0)
    assert float(loss) == pytest.approx(float(formula_loss))
    assert bool(np.any(expected != 0)) == silent


def _silenced_network(silence_penalty):
    """A tiny `standard` network whose area-4 OG start far below threshold.

    Without batch norm, whose moving statistics would make inference see
    other rates than training after so few steps.
    """
    model = build_model("standard", **TINY, front_end_norm="none",
                        silence_penalty=silence_penalty)
    cell = model.get_layer("area4").cell
    bias = cell.bias.numpy()
    bias[target_slice(cell.target_sizes, "OG")] = -2.0
    cell.bias.assign(bias)
    return model


def test_silence_penalty_brings_a_silent_population_back(images):
    """Trained alike, area-4 OG stay silent without the penalty and fire again with it."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 32)
    silent = {}
    for penalty in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = _silenced_network(penalty)
        assert silent_units(activation_model(model), [x])["area4"]["OG"] == TINY["output_gating"]
        model.compile(optimizer=keras.optimizers.Adam(0.05),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=16, epochs=40, verbose=0)
        silent[penalty] = silent_units(activation_model(model), [x])["area4"]["OG"]
    assert silent == {0.0: TINY["output_gating"], 1.0: 0}, silent
