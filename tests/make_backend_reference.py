"""Write tests/backend_reference.npz: what TensorFlow computes for the shipped
`standard-s0` on 64 images, the reference that tests/test_backends.py holds
every other Keras backend to.

    KERAS_BACKEND=tensorflow python tests/make_backend_reference.py

Run it again whenever `exported/standard-s0` is retrained or re-exported: the
reference records the sha256 of the `model.keras` it was computed from, and
the test fails, naming this command, once that file has changed.

The images are made from a seed (`reference_images`), not read from CIFAR-10:
the JAX test environment has no TensorFlow and so no TFDS reader, and the
project ships no CIFAR-10 data. Their sha256 is stored too, so a numpy whose
generator gave other numbers would fail the test instead of comparing
different images. The reference holds, under TensorFlow:
- `logits`: the float32 network (`ei_zoo.with_precision`) on all 64 images;
- `mean/<area>/<type>`: every population's rates averaged over positions,
  [64, T, C], of the float32 network;
- `first/<area>/<type>`: the full rates [T, H, W, C] of the first image;
- `saved_model_logits`: the export's SavedModel (mixed_bfloat16, as shipped).
Full rates of all 64 images would take 8 MB; these take about 200 kB.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import scipy.ndimage

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "exported" / "standard-s0"
REFERENCE = Path(__file__).resolve().with_name("backend_reference.npz")
COMMAND = "KERAS_BACKEND=tensorflow python tests/make_backend_reference.py"
IMAGES, SEED = 64, 0


def reference_images(count: int = IMAGES, seed: int = SEED) -> np.ndarray:
    """`count` deterministic 32x32 RGB images, float32 whole numbers 0-255.

    Smooth noise at four scales (blobs of 8 down to 1 pixel), its amplitude
    falling as 1/f as in natural images, mostly shared by the three channels
    (real images are mostly grey-level structure), then set to CIFAR-10's
    channel means and standard deviations. Uniform noise would hold the units
    in a regime the trained network never sees.
    """
    from ei_zoo.network.config import CIFAR10_MEAN, CIFAR10_STD

    rng = np.random.default_rng(seed)
    field = np.zeros((count, 32, 32, 3))
    for size in (4, 8, 16, 32):
        grey = rng.standard_normal((count, size, size, 1))
        colour = rng.standard_normal((count, size, size, 3))
        noise = scipy.ndimage.zoom(grey + 0.3 * colour, (1, 32 / size, 32 / size, 1),
                                   order=1, mode="grid-mirror", grid_mode=True)
        field += noise / size
    field = (field - field.mean(axis=(0, 1, 2))) / field.std(axis=(0, 1, 2))
    return np.clip(np.round(field * CIFAR10_STD + CIFAR10_MEAN), 0, 255).astype("float32")


def images_sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, dtype="<f4").tobytes()).hexdigest()


def outputs(model, images: np.ndarray) -> dict[str, np.ndarray]:
    """Logits, position-averaged rates of every image and full rates of the first one."""
    from keras import ops

    import ei_zoo

    values = {"logits": ops.convert_to_numpy(model(images, training=False))}
    for key, rates in ei_zoo.activation_model(model)(images, training=False).items():
        rates = ops.convert_to_numpy(rates)
        values[f"mean/{key}"] = rates.mean(axis=(2, 3))
        values[f"first/{key}"] = rates[0]
    return values


def main() -> int:
    import keras

    import ei_zoo
    from ei_zoo.hub.bundle import KERAS_MODEL, sha256_file
    from ei_zoo.optional import tensorflow

    if keras.backend.backend() != "tensorflow":
        print(f"The reference is TensorFlow's; run: {COMMAND}", file=sys.stderr)
        return 2
    images = reference_images()
    model = ei_zoo.load(MODEL)
    served = ei_zoo.load(MODEL, format="saved_model")
    values = outputs(ei_zoo.with_precision(model, "float32"), images)
    values["saved_model_logits"] = np.asarray(served.serve(images))
    np.savez_compressed(
        REFERENCE, **values,
        model_sha256=sha256_file(MODEL / KERAS_MODEL), images_sha256=images_sha256(images),
        made_with=f"tensorflow {tensorflow().__version__}, "
                  f"keras {keras.__version__}, numpy {np.__version__}")
    print(f"wrote {REFERENCE.relative_to(REPO)} ({REFERENCE.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
