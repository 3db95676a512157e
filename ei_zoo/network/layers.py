"""Keras layers of the E/I network around the cell: the E/I area that unrolls it, and the
feedforward pieces (docs/science.md, section 1).

The input projection of an area is computed once per input frame, outside the
time loop, and step 0 skips the recurrent convolution because h = 0 there.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ei_zoo.network.cell import EIConvLSTMCell, apply_sign, weight_initializer
from ei_zoo.network.config import CELL_SETTINGS, CellSettings

if keras.backend.backend() == "tensorflow":  # TensorFlow's own kernels, on its backend only
    from ei_zoo.network.tf_kernels import fused_batch_norm

_DEFAULTS = CellSettings()


@keras.saving.register_keras_serializable(package="ei_zoo")
class EIConvLSTM(keras.layers.Layer):
    """An E/I ConvLSTM area: the cell unrolled over `timesteps` steps.

    Input: one frame [N, H, W, C] fed at every step (area 3 receives area 2's
    output, computed once), or a sequence [N, T, H, W, C] with one frame per
    step (area 4 receives area 3's PN of step t). Output: a dict with every
    step's rates, `PN` [N, T, H, W, principal], `IG` [..., input_gating] and
    `OG` [..., output_gating], so activations are read without surgery.

    Every argument but `timesteps` and `**kwargs` is the cell's (`EIConvLSTMCell`, of
    the same name), passed on to it.

    Args:
        timesteps: T, the steps the area runs.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: the frame or the sequence.
        training: a training call adds the cells' silence penalty.
        clamps: an in-silico perturbation (`unroll` says how); None in training
            and inference.
    """

    def __init__(self, principal, input_gating, output_gating, timesteps=4, kernel_size=3,
                 dale="standard", input_from_principal=False,
                 resting_drive=_DEFAULTS.resting_drive, forget_bias=_DEFAULTS.forget_bias,
                 gate_drive=_DEFAULTS.gate_drive,
                 signed_weight_scale=_DEFAULTS.signed_weight_scale,
                 silence_penalty=_DEFAULTS.silence_penalty,
                 signed_principal_output=_DEFAULTS.signed_principal_output, **kwargs):
        # No autocasting: the cell reads its float32 variables as they are (`step`).
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.timesteps = int(timesteps)
        self.cell = EIConvLSTMCell(
            principal, input_gating, output_gating, kernel_size=kernel_size, dale=dale,
            input_from_principal=input_from_principal, resting_drive=resting_drive,
            forget_bias=forget_bias, gate_drive=gate_drive,
            signed_weight_scale=signed_weight_scale, silence_penalty=silence_penalty,
            signed_principal_output=signed_principal_output, dtype=self.dtype_policy,
            name="cell",
        )

    def build(self, input_shape):
        if len(input_shape) not in (4, 5):
            raise ValueError(
                f"{self.name} expects [N, H, W, C] or [N, T, H, W, C] input, got shape "
                f"{tuple(input_shape)}."
            )
        if len(input_shape) == 5 and input_shape[1] not in (None, self.timesteps):
            raise ValueError(
                f"{self.name} runs {self.timesteps} steps but its input sequence has "
                f"{input_shape[1]}."
            )
        self.cell.build(tuple(input_shape[:1]) + tuple(input_shape[-3:]))

    def input_drives(self, inputs):
        """The input drive `cell.project_input(x)` of every step, float32, computed outside
        the time loop: a list of T tensors [N, H, W, projection_size]."""
        if len(inputs.shape) == 4:  # one frame: one drive, cast once for every step
            return [ops.cast(self.cell.project_input(inputs), "float32")] * self.timesteps
        frames = ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))
        drive = ops.cast(self.cell.project_input(frames), "float32")
        drive = ops.reshape(drive, (-1, self.timesteps) + tuple(drive.shape[1:]))
        # One unstack, not T slices: each slice's gradient would be a full-size
        # zero tensor with one step filled in.
        return ops.unstack(drive, self.timesteps, axis=1)

    def unroll(self, inputs, training=None, clamps=None):
        """Yield `(rates, preactivations)` of every step (`EIConvLSTMCell.step`'s).

        Args:
            inputs: as `call`'s, in the compute dtype.
            training: passed to every step.
            clamps: cell type -> values that replace the population's rates:
                [H, W, C] at every step, or [T, H, W, C], one per step. None: no clamp.
        """
        states = None
        for t, input_drive in enumerate(self.input_drives(inputs)):
            step_clamps = {cell_type: values[t] if len(values.shape) == 4 else values
                           for cell_type, values in (clamps or {}).items()}
            rates, states, preactivations = self.cell.step(
                input_drive, states, training=training, clamps=step_clamps)
            yield rates, preactivations

    def call(self, inputs, training=None, clamps=None):
        inputs = ops.cast(inputs, self.compute_dtype)
        steps = [rates for rates, _ in self.unroll(inputs, training, clamps)]
        return {
            cell_type: ops.stack([rates[cell_type] for rates in steps], axis=1)
            for cell_type in ("PN", "IG", "OG")
        }

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        height, width = input_shape[-3], input_shape[-2]
        cell = self.cell
        return {
            cell_type: (batch, self.timesteps, height, width, channels)
            for cell_type, channels in (
                ("PN", cell.principal), ("IG", cell.input_gating), ("OG", cell.output_gating)
            )
        }

    def get_config(self):
        config = super().get_config()
        cell_config = self.cell.get_config()
        for key in ("principal", "input_gating", "output_gating", "kernel_size", "dale",
                    "input_from_principal", *CELL_SETTINGS):
            config[key] = cell_config[key]
        config["timesteps"] = self.timesteps
        return config



@keras.saving.register_keras_serializable(package="ei_zoo")
class ConvArea(keras.layers.Layer):
    """A feedforward area (areas 1-2): 3x3 conv, optional batch norm, ReLU, 2x2 max pool.

    Batch normalisation is allowed here because areas 1-2 have no cell types;
    it keeps the input of area 3 at a known scale from the first step.
    """

    def __init__(self, filters, kernel_size=3, normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.normalize = bool(normalize)
        self.conv = keras.layers.Conv2D(
            self.filters, self.kernel_size, padding="same", use_bias=not self.normalize,
            kernel_initializer="he_uniform", dtype=self.dtype_policy, name="conv",
        )
        self.norm = (
            keras.layers.BatchNormalization(dtype=self.dtype_policy, name="norm")
            if self.normalize else None
        )
        self.pool = keras.layers.MaxPooling2D(2, dtype=self.dtype_policy, name="pool")

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.norm is not None:
            self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.norm is not None and training and keras.backend.backend() == "tensorflow":
            x = fused_batch_norm(self.norm, x)
        elif self.norm is not None:
            x = self.norm(x, training=training)
        return self.pool(ops.relu(x))

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      normalize=self.normalize)
        return config


@keras.saving.register_keras_serializable(package="ei_zoo")
class SequenceMaxPooling2D(keras.layers.Layer):
    """2-D max pooling applied to every step of a [N, T, H, W, C] sequence."""

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)

    def call(self, sequence):
        steps = sequence.shape[1]
        frames = ops.reshape(sequence, (-1,) + tuple(sequence.shape[2:]))
        pooled = ops.max_pool(frames, self.pool_size, strides=self.pool_size)
        return ops.reshape(pooled, (-1, steps) + tuple(pooled.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch, steps, height, width, channels = input_shape
        return (batch, steps, height // self.pool_size, width // self.pool_size, channels)

    def get_config(self):
        config = super().get_config()
        config["pool_size"] = self.pool_size
        return config


@keras.saving.register_keras_serializable(package="ei_zoo")
class Readout(keras.layers.Layer):
    """Logits from the last step's PN: global average pool, then a dense layer.

    The dense kernel is PN's outgoing weight, so it carries the PN sign
    (`sign=+1` or `-1`, stored as a non-negative magnitude) or is free
    (`sign=None`). The bias has no cell type and is free.
    """

    def __init__(self, units, sign=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.sign = None if sign is None else int(sign)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(channels, self.units),
            initializer=weight_initializer(channels + self.units, self.sign is not None),
            constraint=keras.constraints.NonNeg() if self.sign is not None else None,
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def pooled(self, sequence):
        """Spatial mean of the last step's PN rates, [N, C]."""
        return ops.mean(sequence[:, -1], axis=(1, 2))

    def call(self, sequence):
        return ops.matmul(self.pooled(sequence), apply_sign(self.kernel, self.sign)) + self.bias

    def effective_kernel(self) -> np.ndarray:
        return np.asarray(apply_sign(ops.convert_to_numpy(self.kernel), self.sign))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, sign=self.sign)
        return config
