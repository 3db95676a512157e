"""One round-trip harness for every layer of ei_zoo.network, in the style of Keras's
`run_layer_test`: built from its config, its output shape as declared, the same
outputs after `get_config`/`from_config` with the same weights and after a `.keras`
save and load, and a gradient for every trainable weight. CI runs this file on
TensorFlow and on JAX."""

import keras
import numpy as np
import pytest

from ei_zoo.network.cell import EIConvLSTMCell
from ei_zoo.network.layers import ConvArea, EIConvLSTM, Readout, SequenceMaxPooling2D


def _numpy(tree):
    return keras.tree.map_structure(lambda x: np.asarray(keras.ops.convert_to_numpy(x)), tree)


def _shapes(tree):
    return keras.tree.map_structure(lambda x: tuple(x.shape), tree)


def _as_model(layer, input_shape):
    inputs = keras.Input(input_shape[1:], batch_size=input_shape[0])
    return keras.Model(inputs, layer(inputs))


def run_layer_test(layer_class, init_kwargs, input_shape, tmp_path, expected_shape=None):
    """Check `layer_class(**init_kwargs)` on a random input of `input_shape`."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, input_shape).astype("float32")
    layer = layer_class(**init_kwargs)
    output = layer(x)
    declared = layer.compute_output_shape(input_shape)
    declared = ({key: tuple(shape) for key, shape in declared.items()}
                if isinstance(declared, dict) else tuple(declared))
    assert _shapes(output) == declared
    if expected_shape is not None:
        assert _shapes(output) == expected_shape

    config = layer.get_config()
    twin = layer_class.from_config(config)
    twin(x)
    twin.set_weights(layer.get_weights())
    assert twin.get_config() == config
    keras.tree.map_structure(np.testing.assert_array_equal, _numpy(twin(x)), _numpy(output))

    model = _as_model(layer, input_shape)
    path = tmp_path / f"{layer_class.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    keras.tree.map_structure(np.testing.assert_array_equal, _numpy(loaded(x)), _numpy(model(x)))

    if layer.trainable_weights:
        _check_gradients(layer, x)
    return layer, output


def _check_gradients(layer, x):
    """Every trainable weight gets a finite gradient that is not zero everywhere."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = sum(keras.ops.sum(keras.ops.square(value))
                       for value in keras.tree.flatten(layer(x, training=True)))
        gradients = tape.gradient(loss, layer.trainable_weights)
    elif backend == "jax":
        import jax

        def loss_of(values):
            mapping = list(zip(layer.trainable_weights, values))
            with keras.StatelessScope(state_mapping=mapping):
                return sum(keras.ops.sum(keras.ops.square(value))
                           for value in keras.tree.flatten(layer(x, training=True)))

        gradients = jax.grad(loss_of)([w.value for w in layer.trainable_weights])
    else:
        pytest.skip(f"no gradient check written for the {backend} backend")
    for weight, gradient in zip(layer.trainable_weights, gradients):
        gradient = np.asarray(keras.ops.convert_to_numpy(gradient))
        assert np.isfinite(gradient).all(), weight.path
        assert np.abs(gradient).max() > 0, weight.path


@pytest.mark.parametrize("dale", ["standard", "inh_pn", "no_dale"])
def test_area_from_one_frame(dale, tmp_path):
    run_layer_test(EIConvLSTM, dict(principal=6, input_gating=2, output_gating=3, timesteps=3,
                                    dale=dale, name="area"), (2, 5, 5, 4), tmp_path,
                   expected_shape={"PN": (2, 3, 5, 5, 6), "IG": (2, 3, 5, 5, 2),
                                   "OG": (2, 3, 5, 5, 3)})


def test_area_from_a_sequence_of_principal_rates(tmp_path):
    run_layer_test(EIConvLSTM, dict(principal=4, input_gating=2, output_gating=2, timesteps=2,
                                    dale="standard", input_from_principal=True,
                                    signed_principal_output=True), (2, 2, 4, 4, 3), tmp_path)


def test_cell_under_keras_rnn(tmp_path):
    """The cell as `keras.layers.RNN` drives it, round-tripped like any layer."""
    cell = EIConvLSTMCell(principal=5, input_gating=2, output_gating=2, dale="inh_pn")
    layer = keras.layers.RNN(cell, return_sequences=True, name="rnn")
    x = np.random.default_rng(1).uniform(0, 1, (2, 3, 4, 4, 3)).astype("float32")
    assert tuple(layer(x).shape) == (2, 3, 4, 4, 5)
    config = layer.get_config()
    assert config["cell"]["config"]["dale"] == "inh_pn"
    model = _as_model(layer, x.shape)
    model.save(tmp_path / "rnn.keras")
    loaded = keras.saving.load_model(tmp_path / "rnn.keras")
    np.testing.assert_array_equal(_numpy(loaded(x)), _numpy(model(x)))
    _check_gradients(layer, x)


@pytest.mark.parametrize("normalize", [True, False])
def test_conv_area(normalize, tmp_path):
    run_layer_test(ConvArea, dict(filters=4, normalize=normalize), (2, 8, 8, 3), tmp_path,
                   expected_shape=(2, 4, 4, 4))


def test_sequence_max_pooling(tmp_path):
    run_layer_test(SequenceMaxPooling2D, dict(pool_size=2), (2, 3, 4, 4, 5), tmp_path,
                   expected_shape=(2, 3, 2, 2, 5))


@pytest.mark.parametrize("sign", [1, -1, None])
def test_readout(sign, tmp_path):
    layer, _ = run_layer_test(Readout, dict(units=3, sign=sign), (2, 2, 4, 4, 5), tmp_path,
                              expected_shape=(2, 3))
    if sign is not None:  # stored as a magnitude: the effective kernel carries the sign
        assert (np.sign(layer.effective_kernel()) * sign >= 0).all()
