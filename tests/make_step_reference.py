"""Write tests/step_reference.npz: the forward pass and the training gradients of a
small `standard` network, as the layers computed them BEFORE the training-step
speed-ups of issue 9 (commit e3a735f), so that tests/test_step_reference.py
holds the faster step to the same maths on the same weights.

    git worktree add /tmp/before e3a735f
    KERAS_BACKEND=tensorflow PYTHONPATH=/tmp/before python tests/make_step_reference.py

Only rerun it on code whose step is known to be right: the stored values are
the definition of "unchanged". The network is small (its weights are stored
with the values, 225 kB in all) but has every part of `standard`: two
E/I areas of 3 steps, the silence penalty and batch norm in training mode.
For each precision (float32 and mixed_bfloat16) it holds:
- `<precision>/logits` and `<precision>/rates/<area>/<type>` (inference; rates of
  the first 4 images);
- `<precision>/loss`: cross-entropy plus the model's added losses (training);
- `<precision>/grad/<weight path>`: the gradient of that loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().with_name("step_reference.npz")
NETWORK = {"principal": 8, "input_gating": 4, "output_gating": 4, "area1_channels": 4,
           "area2_channels": 8, "timesteps": 3}
PRECISIONS = ("float32", "mixed_bfloat16")
IMAGES, SEED = 16, 3
RATE_IMAGES = 4  # rates are stored for the first 4 images only (size)


def step_values(model, images, labels) -> dict[str, np.ndarray]:
    """Logits and rates of an inference call; loss and gradients of a training call."""
    import keras
    import tensorflow as tf

    import ei_zoo

    values = {"logits": keras.ops.convert_to_numpy(model(images, training=False))}
    for key, rates in ei_zoo.activation_model(model)(images, training=False).items():
        values[f"rates/{key}"] = keras.ops.convert_to_numpy(rates)[:RATE_IMAGES]
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = cross_entropy(labels, logits) + sum(model.losses)
    gradients = tape.gradient(loss, model.trainable_variables)
    values["loss"] = np.asarray(loss)
    for variable, gradient in zip(model.trainable_variables, gradients):
        values[f"grad/{variable.path}"] = np.asarray(tf.convert_to_tensor(gradient))
    return values


def main() -> int:
    import keras
    from make_backend_reference import reference_images

    from ei_zoo.network.balance import balance_biases
    from ei_zoo.network.models import build_model, dtype_policy

    if keras.backend.backend() != "tensorflow":
        print("The reference is TensorFlow's; run it with KERAS_BACKEND=tensorflow.",
              file=sys.stderr)
        return 2
    images = reference_images(IMAGES, SEED)
    labels = np.arange(IMAGES) % 10
    keras.utils.set_random_seed(SEED)
    model = build_model("standard", **NETWORK)
    balance_biases(model, images)
    weights = model.get_weights()
    stored = {f"weight/{i}": w for i, w in enumerate(weights)}
    for precision in PRECISIONS:
        with dtype_policy(precision):
            copy = build_model("standard", **NETWORK)
        copy.set_weights(weights)
        values = step_values(copy, images, labels)
        stored.update({f"{precision}/{key}": value for key, value in values.items()})
        print(f"{precision}: loss {float(values['loss']):.5f}")
    np.savez_compressed(REFERENCE, **stored, images=images, labels=labels)
    print(f"wrote {REFERENCE.name} ({REFERENCE.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
