"""Kernels of TensorFlow's own that the layers use on the TensorFlow backend only.

`ei_zoo.network.layers` runs on every Keras backend and imports this module only when
the backend is TensorFlow.
"""

from keras import ops

from ei_zoo.optional import tensorflow

tf = tensorflow("The fused batch norm")


def fused_batch_norm(norm, x):
    """`norm(x, training=True)` computed by TensorFlow's fused kernel (TensorFlow backend only).

    The same maths as Keras's layer: x normalised by the batch's mean and
    biased variance, then scaled by gamma and shifted by beta; the moving
    statistics move by `momentum` towards the batch's. Keras computes it op
    by op in float32, about ten passes over the activations forward and
    back, which made areas 1-2 a fifth of the training step; FusedBatchNormV3
    takes one pass each way and reads bfloat16 directly (benchmarks/README.md).
    Inference keeps Keras's layer, so exports compute exactly as before.
    For `ConvArea`'s layer: last axis, with gamma and beta, no renorm.
    """
    if not norm.trainable:  # Keras's layer then uses its moving statistics
        return norm(x, training=True)
    y, mean, corrected_variance = tf.compat.v1.nn.fused_batch_norm(
        x, ops.cast(norm.gamma, "float32"), ops.cast(norm.beta, "float32"),
        epsilon=norm.epsilon, is_training=True)
    # The kernel returns the Bessel-corrected variance; Keras moves towards the biased one.
    count = ops.cast(ops.size(x) // x.shape[-1], "float32")
    variance = corrected_variance * (count - 1.0) / count
    norm.moving_mean.assign(norm.moving_mean * norm.momentum + mean * (1.0 - norm.momentum))
    norm.moving_variance.assign(
        norm.moving_variance * norm.momentum + variance * (1.0 - norm.momentum))
    return ops.cast(y, norm.compute_dtype)
