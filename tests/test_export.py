import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import ei_zoo
import ei_zoo.hub.export
from ei_zoo import data
from ei_zoo.hub.bundle import SAVED_MODEL, read_metadata, sha256_file, verify_export
from ei_zoo.hub.export import cell_type_table, export_model

from conftest import hashes

ACTIVATION_KEYS = {f"{area}/{cell_type}" for area in ("area3", "area4")
                   for cell_type in ("PN", "IG", "OG")}


def _run_without_ei_zoo(saved_model, images, tmp_path):
    """Run both endpoints in a fresh interpreter that only has TensorFlow."""
    np.save(tmp_path / "images.npy", images)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf

        loaded = tf.saved_model.load({str(saved_model)!r})
        images = tf.constant(np.load({str(tmp_path / "images.npy")!r}))
        activations = loaded.activations(images)
        signature = loaded.signatures["activations"](images=images)
        assert "ei_zoo" not in sys.modules, "loading the SavedModel imported ei_zoo"
        np.savez({str(tmp_path / "out.npz")!r}, logits=loaded.serve(images).numpy(),
                 signature_keys=np.array(sorted(signature)),
                 **{{"activations:" + key: value.numpy() for key, value in activations.items()}})
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz"))


def test_other_backends_write_the_saved_model_under_tensorflow(tiny_export, images, tmp_path):
    """Under JAX or PyTorch, `export_model` has a child process reload the `.keras`
    under TensorFlow and write the SavedModel (`ei_zoo.hub.export` says why): the
    same endpoints, the same numbers as an export written under TensorFlow."""
    import tensorflow as tf

    folder = tmp_path / "saved_model"
    ei_zoo.hub.export._write_saved_model_under_tensorflow(tiny_export / "model.keras", folder)
    written, shipped = (tf.saved_model.load(str(path))
                        for path in (folder, tiny_export / "saved_model"))
    assert sorted(written.signatures) == sorted(shipped.signatures)
    np.testing.assert_array_equal(written.serve(images), shipped.serve(images))
    with pytest.raises(RuntimeError, match=r"^Writing the SavedModel under TensorFlow failed: "
                                           r"[^\n]*missing\.keras"):
        ei_zoo.hub.export._write_saved_model_under_tensorflow(tmp_path / "missing.keras",
                                                          tmp_path / "other")


def test_saved_model_serves_without_ei_zoo(trained_tiny, tiny_export, images, tmp_path):
    model, _ = trained_tiny
    out = _run_without_ei_zoo(tiny_export / "saved_model", images, tmp_path)

    expected = keras.ops.convert_to_numpy(model(images, training=False))
    assert out["logits"].shape == (4, 10) and out["logits"].dtype == np.float32
    np.testing.assert_allclose(out["logits"], expected, atol=1e-4)
    # Batch norm in training mode gives other logits, so the check above can fail.
    # stateless_call: a plain training call would update the shared model's statistics.
    in_training, _ = model.stateless_call(
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables], images, training=True)
    assert np.abs(keras.ops.convert_to_numpy(in_training) - expected).max() > 1e-3

    activations = {key.split(":", 1)[1]: value for key, value in out.items()
                   if key.startswith("activations:")}
    assert set(activations) == ACTIVATION_KEYS
    assert set(out["signature_keys"]) == ACTIVATION_KEYS
    reference = ei_zoo.activation_model(model)(images, training=False)
    for key, value in activations.items():
        area = key.split("/")[0]
        size = 8 if area == "area3" else 4
        channels = 8 if key.endswith("PN") else 2
        assert value.shape == (4, 2, size, size, channels) and value.dtype == np.float32
        np.testing.assert_allclose(value, keras.ops.convert_to_numpy(reference[key]), atol=1e-4)


def test_keras_file_reloads_with_identical_outputs(trained_tiny, tiny_export, images):
    model, _ = trained_tiny
    reloaded = keras.saving.load_model(tiny_export / "model.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(images, training=False)),
        keras.ops.convert_to_numpy(model(images, training=False)), atol=1e-6)
    assert reloaded.network_config == model.network_config


def test_connectivity_matches_effective_weights(trained_tiny, tiny_export):
    model, _ = trained_tiny
    expected = ei_zoo.effective_weights(model)
    with np.load(tiny_export / "connectivity.npz") as stored:
        assert sorted(stored.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(stored[key], value)


def test_metadata_describes_the_model(trained_tiny, tiny_export):
    model, history = trained_tiny
    metadata = read_metadata(tiny_export)
    assert metadata["id"] == "standard-s0"
    assert metadata["variant"] == "standard"
    assert metadata["seed"] == 0 and metadata["test_accuracy"] == 0.125
    assert metadata["format_version"] == 1
    assert metadata["config"] == model.network_config.to_dict()
    assert metadata["cell_types"]["area4"] == {
        "PN": {"channels": 8, "sign": 1}, "IG": {"channels": 2, "sign": -1},
        "OG": {"channels": 2, "sign": -1},
    }
    assert metadata["versions"]["ei_zoo"] == ei_zoo.__version__
    assert set(metadata["versions"]) == {"ei_zoo", "keras", "tensorflow", "numpy", "python"}

    on_disk = {path.relative_to(tiny_export).as_posix() for path in tiny_export.rglob("*")
               if path.is_file()} - {"metadata.json"}
    assert set(metadata["files"]) == on_disk
    assert {"model.keras", "connectivity.npz", "history.csv",
            "saved_model/saved_model.pb"} <= on_disk
    for name, digest in metadata["files"].items():
        assert sha256_file(tiny_export / name) == digest

    curves = pd.read_csv(tiny_export / "history.csv")
    assert curves["epoch"].tolist() == [0, 1]
    np.testing.assert_allclose(curves["loss"], history.history["loss"])


def test_history_accepts_frames_dicts_and_csv(tmp_path):
    frame = pd.DataFrame({"epoch": [5, 6], "loss": [2.0, 1.5]})
    frame.to_csv(tmp_path / "log.csv", index=False)
    for history in (frame, {"loss": [2.0, 1.5]}, tmp_path / "log.csv", str(tmp_path / "log.csv")):
        written = ei_zoo.hub.export._history_frame(history)
        assert written.columns.tolist() == ["epoch", "loss"]
        assert written["epoch"].tolist() == [0, 1]
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        ei_zoo.hub.export._history_frame(tmp_path / "missing.csv")


def test_no_dale_signs_are_null():
    table = cell_type_table(ei_zoo.get_config("no_dale"))
    assert json.loads(json.dumps(table))["area3"]["PN"] == {"channels": 64, "sign": None}


def test_verify_export_names_the_changed_file(tiny_export, tmp_path):
    copy = shutil.copytree(tiny_export, tmp_path / "standard-s0")
    verify_export(copy)

    weights = copy / "saved_model" / "variables" / "variables.index"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="variables.index does not match.*re-download"):
        verify_export(copy)

    shutil.copy2(tiny_export / "saved_model" / "variables" / "variables.index", weights)
    (copy / "history.csv").unlink()
    with pytest.raises(ValueError, match="history.csv is missing"):
        verify_export(copy)


def test_read_metadata_rejects_non_exports(tmp_path):
    with pytest.raises(FileNotFoundError, match="No export folder"):
        read_metadata(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "metadata.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="not an ei_zoo export"):
        read_metadata(tmp_path / "plain")


def test_failed_export_keeps_the_previous_version(trained_tiny, tmp_path, monkeypatch):
    model, _ = trained_tiny
    target = export_model(model, tmp_path / "models" / "standard-s0", metadata={"seed": 0})
    before = hashes(target)

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ei_zoo.hub.export.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        export_model(model, target, metadata={"seed": 1})
    monkeypatch.undo()

    # The final swap fails: the old version must be renamed back.
    rename = pathlib.Path.rename

    def rename_fails_moving_in(self, destination):
        moving_in = ".tmp-" in self.name and not self.name.endswith(".old")
        if moving_in and pathlib.Path(destination) == target:
            raise OSError("rename failed")
        return rename(self, destination)

    monkeypatch.setattr(pathlib.Path, "rename", rename_fails_moving_in)
    with pytest.raises(OSError, match="rename failed"):
        export_model(model, target, metadata={"seed": 2})
    monkeypatch.undo()

    assert hashes(target) == before
    assert read_metadata(target)["seed"] == 0
    verify_export(target)
    assert [path.name for path in target.parent.iterdir()] == ["standard-s0"]

    export_model(model, target, metadata={"seed": 3})
    assert read_metadata(target)["seed"] == 3
    verify_export(target)
    assert [path.name for path in target.parent.iterdir()] == ["standard-s0"]


def test_export_of_a_trained_network_is_small_and_fine_tunes(tmp_path):
    """A pretrained export carries no optimizer state and no second copy of the
    weights: at most 15 bytes per parameter (issue 10), and it still fine-tunes."""
    from ei_zoo.training.fit import prepare_model
    from ei_zoo.training.settings import TrainingConfig

    model = prepare_model("standard", TrainingConfig(epochs=1, limit=128))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # AdamW now holds two moments
    folder = export_model(model, tmp_path / "standard-s0")
    size = sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())
    assert size <= 15 * model.count_params(), size / model.count_params()

    loaded = ei_zoo.load(folder)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.compile(optimizer="adam",
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert np.isfinite(loaded.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])


def test_model_card_shows_the_learning_curve_where_it_was_recorded(trained_tiny, tmp_path):
    model, history = trained_tiny
    curve = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4], "test_loss": [1.9, 1.6],
             "test_accuracy": [0.25, 0.35]}
    recorded = export_model(model, tmp_path / "recorded" / "standard-s0",
                            metadata={"seed": 0, "learning_curve": True}, history=curve)
    card = (recorded / "README.md").read_text()
    assert "![Learning curve](learning_curve.png)" in card and "no epoch and no setting" in card
    assert (recorded / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "learning_curve.png" in read_metadata(recorded)["files"]
    verify_export(recorded)
    older = export_model(model, tmp_path / "older" / "standard-s0", metadata={"seed": 0},
                         history=history.history)
    assert "Not recorded: this network was trained before" in (older / "README.md").read_text()
    assert not (older / "learning_curve.png").exists()


def test_saved_model_lists_each_weight_once_and_fine_tunes_as_a_tfsm_layer(trained_tiny,
                                                                            tiny_export,
                                                                            cifar_dir):
    """TensorFlow tools see the weights (issue 22): `variables` lists them, the
    checkpoint holds each value once, and a `TFSMLayer` trains them on CIFAR-10.

    Plain SGD: Keras 3.15's TFSMLayer names its weights after TensorFlow's
    (`area1_conv_kernel:0`), and optimizers with per-weight state (Adam, SGD
    with momentum) reject the ':' in the names they derive. A SavedModel
    stores no constraints either, so this route does not keep the signed
    magnitudes non-negative; the `.keras` file, whose constraints travel with
    it, is the one to fine-tune under Dale's law.
    """
    model, _ = trained_tiny
    path = str(tiny_export / SAVED_MODEL)
    loaded = tf.saved_model.load(path)
    assert len(loaded.variables) == len(model.variables)
    assert len(loaded.trainable_variables) == len(model.trainable_variables)
    assert ({variable.name.removesuffix(":0") for variable in loaded.variables}
            == {variable.path for variable in model.variables})
    stored = sum(int(np.prod(shape)) for name, shape
                 in tf.train.list_variables(f"{path}/variables/variables")
                 if name.endswith("VARIABLE_VALUE"))
    assert stored == model.count_params()

    layer = keras.layers.TFSMLayer(path, call_endpoint="serve", trainable=True)
    inputs = keras.Input((32, 32, 3))
    tuned = keras.Model(inputs, layer(inputs))
    tuned.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = data.train_dataset(32, data_dir=cifar_dir, limit=128)
    before = [weight.numpy().copy() for weight in layer.trainable_weights]
    losses = tuned.fit(batches, epochs=4, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    moved = [not np.array_equal(old, weight.numpy())
             for old, weight in zip(before, layer.trainable_weights)]
    assert all(moved), [weight.name for weight, m in zip(layer.trainable_weights, moved) if not m]
