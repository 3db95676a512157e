"""The layers and the pretrained zoo on every Keras 3 backend (issue 13).

Runs in the TensorFlow suite, and in CI a second time in a virtual environment
with keras and jax and no TensorFlow (.ci/run), there with test_models.py and
test_dale.py (every variant built, Dale's law after optimizer steps,
activations, `.keras` round trips). PyTorch: the same command by hand with
KERAS_BACKEND=torch (docs/backends.md).

The shipped `standard-s0` is held to what TensorFlow computed for it, stored
in backend_reference.npz (tests/make_backend_reference.py says what it holds
and why its 64 images are made from a seed rather than read from CIFAR-10).
The shipped networks compute in mixed_bfloat16, whose rounding differs
between backends' kernels far beyond 1e-4; so the 1e-4 check runs on float32
copies of the network (`ei_zoo.with_precision`, same weights), and the network
as shipped is held to bfloat16's rounding.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from make_backend_reference import (
    COMMAND,
    MODEL,
    REFERENCE,
    images_sha256,
    outputs,
    reference_images,
)

import ei_zoo
from ei_zoo.hub.bundle import KERAS_MODEL, sha256_file

BACKEND = keras.backend.backend()
FLOAT32_TOLERANCE = 1e-4  # absolute; measured: 1.5e-5 (JAX, PyTorch against TensorFlow)
# As shipped (mixed_bfloat16), as fractions of the largest value of each output:
# logits against the SavedModel's (measured: 0.24% JAX, 0.19% PyTorch, 0 TensorFlow),
# rates against the float32 reference (measured: up to 2.5% on all three backends,
# bfloat16's own rounding through eight recurrent steps).
BFLOAT16_LOGITS, BFLOAT16_RATES = 0.01, 0.05


@pytest.fixture(scope="module")
def reference():
    """The stored TensorFlow reference, checked to belong to the shipped model and images."""
    stored = dict(np.load(REFERENCE))
    if str(stored["model_sha256"]) != sha256_file(MODEL / KERAS_MODEL):
        pytest.fail(f"{MODEL.name}/{KERAS_MODEL} changed since {REFERENCE.name} was computed; "
                    f"regenerate it: {COMMAND}")
    images = reference_images()
    if str(stored["images_sha256"]) != images_sha256(images):
        pytest.fail(f"this numpy or scipy makes other reference images than the ones "
                    f"{REFERENCE.name} was computed on; regenerate it: {COMMAND}")
    return images, stored


@pytest.fixture(scope="module")
def shipped():
    return ei_zoo.load(MODEL)


def test_float32_logits_and_rates_match_tensorflow(reference, shipped):
    images, stored = reference
    computed = outputs(ei_zoo.with_precision(shipped, "float32"), images)
    assert computed.keys() <= stored.keys()
    for key, value in computed.items():
        np.testing.assert_allclose(value, stored[key], rtol=0, atol=FLOAT32_TOLERANCE,
                                   err_msg=f"{key} on {BACKEND}")


def test_shipped_precision_matches_within_bfloat16_rounding(reference, shipped):
    """As shipped (mixed_bfloat16): against the SavedModel's logits under TensorFlow,
    and the rates against the float32 reference."""
    images, stored = reference
    computed = outputs(shipped, images)
    stored = {**stored, "logits": stored["saved_model_logits"]}
    for key, value in computed.items():
        fraction = BFLOAT16_LOGITS if key == "logits" else BFLOAT16_RATES
        np.testing.assert_allclose(value, stored[key], rtol=0,
                                   atol=fraction * float(np.abs(stored[key]).max()),
                                   err_msg=f"{key} on {BACKEND}")
    assert (computed["logits"].argmax(1) == stored["logits"].argmax(1)).mean() >= 0.95


# Run in a child process in which TensorFlow cannot be imported, whatever is
# installed. Its modules are found without a file (PyTorch's find_spec probes
# then skip them) and fail to load as an absent module does; None in
# sys.modules would not do: Keras takes any entry there for TensorFlow loaded.
WITHOUT_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, importlib.machinery, json, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
                return importlib.machinery.ModuleSpec(name, self)
            return None

        def create_module(self, spec):
            raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, NoTensorFlow())

    import numpy as np
    import ei_zoo

    model_folder, out = sys.argv[1:]
    assert "standard" in ei_zoo.list_variants()
    config = ei_zoo.get_config("standard").replace(principal=8, input_gating=2,
                                                  output_gating=2, timesteps=2)
    assert ei_zoo.NetworkConfig.from_json(config.to_json()) == config
    model = ei_zoo.build_model(config)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert ei_zoo.activation_model(model)(images)["area4/PN"].shape == (2, 2, 4, 4, 8)
    assert "standard-s0" in set(ei_zoo.list_models()["id"])
    shipped = ei_zoo.load(model_folder)
    assert shipped.predict(images, verbose=0).shape == (2, 10)
    stored = np.load(f"{model_folder}/connectivity.npz")
    for key, kernel in ei_zoo.effective_weights(shipped).items():
        np.testing.assert_array_equal(kernel, stored[key])

    def refusal(action):
        try:
            action()
        except ImportError as error:
            return str(error)
        return None

    refusals = {
        "load saved_model": refusal(lambda: ei_zoo.load(model_folder, format="saved_model")),
        "export_model": refusal(lambda: ei_zoo.export_model(model, f"{out}/standard-s0")),
        # The training settings are Python only; training itself needs TensorFlow.
        "ei_zoo.training.recipe": refusal(lambda: __import__("ei_zoo.training.recipe")),
        "ei_zoo.data": refusal(lambda: __import__("ei_zoo.data")),
    }
    loaded = sorted(name for name in sys.modules if name.startswith("tensorflow"))
    print(json.dumps({"modules": loaded, "refusals": refusals}))
""")


@pytest.mark.skipif(BACKEND == "tensorflow",
                    reason="needs another backend; CI runs it in its JAX environment")
def test_core_works_without_tensorflow(tmp_path):
    """Everything but tf.data and SavedModels runs without TensorFlow, and those
    refuse in one line naming the missing piece and the install command."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "EI_ZOO_EXPORTED": str(MODEL.parent),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(MODEL.parents[1]),
                                                       os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, str(MODEL), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == []
    for action, message in report["refusals"].items():
        assert message is not None, f"{action} ran without TensorFlow"
        assert "needs TensorFlow" in message and 'pip install "ei_zoo[cpu]"' in message, message
        assert "\n" not in message, message
    assert not (tmp_path / "standard-s0").exists()
