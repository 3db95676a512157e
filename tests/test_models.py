import keras
import numpy as np
import pytest

import ei_zoo
from ei_zoo.network.cell import EIConvLSTMCell
from ei_zoo.network.layers import EIConvLSTM
from ei_zoo.network.models import dtype_policy

# Tensors and variables as numpy arrays on every backend (np.asarray refuses
# PyTorch tensors that require a gradient).
numpy = keras.ops.convert_to_numpy

# The paper's variants, and the design study's one that changes the cell's maths.
ALL_VARIANTS = [name for name in ei_zoo.list_variants() if "." not in name or
                name.endswith(".signed_output")]
PATHWAYS = ("PN->g", "PN->f", "PN->IG", "PN->OG", "IG->i", "OG->o")


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_shapes_for_every_variant(name, images):
    config = ei_zoo.get_config(name)
    model = ei_zoo.build_model(name)
    assert model(images).shape == (4, 10)
    activations = ei_zoo.activation_model(model)(images)
    interneurons = config.input_gating
    expected = {
        "area3/PN": (4, 4, 8, 8, 64), "area3/IG": (4, 4, 8, 8, interneurons),
        "area3/OG": (4, 4, 8, 8, interneurons), "area4/PN": (4, 4, 4, 4, 64),
        "area4/IG": (4, 4, 4, 4, interneurons), "area4/OG": (4, 4, 4, 4, interneurons),
    }
    assert {key: tuple(value.shape) for key, value in activations.items()} == expected
    assert all(keras.backend.standardize_dtype(value.dtype) == "float32"
               for value in activations.values())

    weights = ei_zoo.effective_weights(model)
    for area in ("area3", "area4"):
        assert weights[f"{area}/PN->g"].shape == (3, 3, 64, 64)
        assert weights[f"{area}/PN->f"].shape == (3, 3, 64, 64)
        assert weights[f"{area}/PN->IG"].shape == (3, 3, 64, interneurons)
        assert weights[f"{area}/PN->OG"].shape == (3, 3, 64, interneurons)
        assert weights[f"{area}/IG->i"].shape == (1, 1, interneurons, 64)
        assert weights[f"{area}/OG->o"].shape == (1, 1, interneurons, 64)
    assert weights["area4/input"].shape == (3, 3, 64, 128 + 2 * interneurons)
    assert weights["readout"].shape == (64, 10)


def test_overrides_change_the_network(images):
    model = ei_zoo.build_model("standard", timesteps=2, kernel_size=5, principal=8)
    activations = ei_zoo.activation_model(model)(images)
    assert activations["area3/PN"].shape == (4, 2, 8, 8, 8)
    assert ei_zoo.effective_weights(model)["area3/PN->g"].shape == (5, 5, 8, 8)


def test_compute_output_shape_matches_call():
    layer = EIConvLSTM(6, 2, 3, timesteps=3, dale="inh_pn", input_from_principal=True)
    sequence = np.random.default_rng(0).uniform(0, 1, (2, 3, 5, 5, 4)).astype("float32")
    outputs = layer(sequence)
    expected = layer.compute_output_shape(sequence.shape)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == expected
    assert expected["PN"] == (2, 3, 5, 5, 6) and expected["IG"] == (2, 3, 5, 5, 2)


def test_static_input_equals_repeated_sequence():
    """Area 3 feeds one frame at every step; that must equal feeding it T times."""
    layer = EIConvLSTM(4, 2, 2, timesteps=3)
    frame = np.random.default_rng(1).normal(size=(2, 6, 6, 5)).astype("float32")
    static = layer(frame)
    repeated = layer(np.repeat(frame[:, None], 3, axis=1))
    for key in ("PN", "IG", "OG"):
        np.testing.assert_allclose(numpy(static[key]), numpy(repeated[key]), rtol=1e-5, atol=1e-6)


def test_cell_matches_spec_equations():
    """One step of the cell against a NumPy transcription of docs/science.md, section 2."""
    rng = np.random.default_rng(2)
    cell = EIConvLSTMCell(3, 2, 2, kernel_size=1, dale="standard")
    x = rng.uniform(0, 1, (1, 1, 1, 4)).astype("float32")
    cell.build(x.shape)
    h = rng.uniform(0, 1, (1, 1, 1, 3)).astype("float32")
    c = rng.uniform(0, 1, (1, 1, 1, 3)).astype("float32")
    rates, (h_new, c_new), _ = cell.step(cell.project_input(x), (h, c))

    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    w = {k: v[0, 0] for k, v in cell.effective_kernels().items()}
    bias = numpy(cell.bias)
    xv, hv, cv = x[0, 0, 0], h[0, 0, 0], c[0, 0, 0]
    drive = xv @ w["input"] + bias
    z_g = drive[:3] + hv @ w["PN->g"]
    z_f = drive[3:6] + hv @ w["PN->f"]
    ig = np.maximum(drive[6:8] + hv @ w["PN->IG"], 0)
    og = np.maximum(drive[8:10] + hv @ w["PN->OG"], 0)
    i = sigmoid(ig @ w["IG->i"] + numpy(cell.input_gate_bias))
    o = sigmoid(og @ w["OG->o"] + numpy(cell.output_gate_bias))
    c_expected = sigmoid(z_f) * cv + i * np.maximum(z_g, 0)
    h_expected = o * np.tanh(c_expected)
    # Each value sums float32 terms of order 1, whose order the kernels choose: its
    # rounding is about 1e-7 absolute, more than 1e-5 of a result near zero (an IG rate
    # of 0.004 differed by 6e-8 on one CPU).
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(c_new)[0, 0, 0], c_expected, **close)
    np.testing.assert_allclose(numpy(h_new)[0, 0, 0], h_expected, **close)
    np.testing.assert_allclose(numpy(rates["IG"])[0, 0, 0], ig, **close)
    # Signs applied in the forward pass: PN excitatory, IG/OG inhibitory.
    assert (w["PN->g"] >= 0).all() and (w["IG->i"] <= 0).all()


def test_signed_principal_output_allows_negative_rates(images):
    model = ei_zoo.build_model("standard", signed_principal_output=True)
    pn = ei_zoo.activation_model(model)(images)["area3/PN"]
    assert numpy(pn).min() < 0


@pytest.mark.parametrize("name", ["standard", "inh_pn", "no_dale", "ratio_1_64"])
def test_keras_save_load_identical(name, images, tmp_path):
    model = ei_zoo.build_model(name)
    ei_zoo.balance_biases(model, images)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(numpy(model(images)), numpy(restored(images)))
    for key, value in ei_zoo.effective_weights(model).items():
        np.testing.assert_array_equal(value, ei_zoo.effective_weights(restored)[key])
    restored_config = restored.get_layer("area4").get_config()
    assert restored_config == model.get_layer("area4").get_config()
    assert isinstance(restored, ei_zoo.EINetwork)
    assert restored.network_config == ei_zoo.get_config(name)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_balance_biases_sets_mean_preactivations(images, precision):
    """After balancing, every channel's mean pre-activation is near its target,
    also under the zoo's mixed precision (balancing runs outside a layer call)."""
    with dtype_policy(precision):
        model = ei_zoo.build_model("inh_pn")
    batch = np.concatenate([images] * 8)
    ei_zoo.balance_biases(model, batch, iterations=6)
    area3_input = keras.Model(model.input, model.get_layer("area2").output)(batch, training=True)
    area3 = model.get_layer("area3")
    totals = {}
    for _, preactivations in area3.unroll(area3_input):
        for name, value in preactivations.items():
            totals[name] = totals.get(name, 0) + numpy(value).mean(axis=(0, 1, 2)) / 4
    np.testing.assert_allclose(totals["g"], 0.5, atol=0.05)
    np.testing.assert_allclose(totals["f"], 1.0, atol=0.05)
    np.testing.assert_allclose(totals["i"], 0.0, atol=0.05)
    # Area 4 is active at rest although its input is purely inhibitory.
    pn = ei_zoo.activation_model(model)(batch, training=True)["area4/PN"]
    assert (numpy(pn)[:, -1] > 0).mean() > 0.5


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the fused batch norm is TensorFlow's kernel")
@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_fused_batch_norm_computes_what_keras_computes(precision, tolerance):
    """ConvArea trains with TensorFlow's fused batch norm; Keras's layer is the
    definition: same output, gradients and moving statistics (within rounding)."""
    import tensorflow as tf

    from ei_zoo.network.layers import ConvArea, fused_batch_norm

    x = np.random.default_rng(0).normal(3.0, 2.0, (6, 8, 8, 5)).astype("float32")
    with dtype_policy(precision):
        area = ConvArea(7, name="area")
    area.build(x.shape)
    area.norm.gamma.assign(np.linspace(0.5, 2.0, 7))
    area.norm.beta.assign(np.linspace(-1.0, 1.0, 7))
    start = [numpy(v) for v in (area.norm.moving_mean, area.norm.moving_variance)]
    features = area.conv(x)
    # Weights that vary within a channel: a per-channel constant would have d/dx = 0.
    weights = np.random.default_rng(1).normal(size=features.shape).astype("float32")
    results = {}
    for name, normalize in (("keras", lambda h: area.norm(h, training=True)),
                            ("fused", lambda h: fused_batch_norm(area.norm, h))):
        area.norm.moving_mean.assign(start[0])
        area.norm.moving_variance.assign(start[1])
        with tf.GradientTape() as tape:
            tape.watch(features)
            y = normalize(features)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
        gradients = tape.gradient(loss, [features, area.norm.gamma, area.norm.beta])
        results[name] = [numpy(y).astype("float32"), *(numpy(g).astype("float32")
                         for g in gradients), numpy(area.norm.moving_mean),
                         numpy(area.norm.moving_variance)]
        assert y.dtype == features.dtype
    for what, fused, keras_value in zip(("output", "d/dx", "d/dgamma", "d/dbeta", "moving mean",
                                         "moving variance"), results["fused"], results["keras"]):
        scale = np.abs(keras_value).max()
        assert np.abs(fused - keras_value).max() <= tolerance * scale, what
    assert not np.allclose(results["fused"][4], start[0])  # the statistics did move
    # In a model, training calls take the fused path and inference calls Keras's layer.
    with dtype_policy(precision):
        model = ei_zoo.build_model("standard", principal=8, input_gating=2, output_gating=2,
                                   area1_channels=4, area2_channels=8)
    ops_in = {op.type for op in tf.function(lambda images: model(images, training=True))
              .get_concrete_function(tf.TensorSpec((2, 32, 32, 3))).graph.get_operations()}
    assert "FusedBatchNormV3" in ops_in
