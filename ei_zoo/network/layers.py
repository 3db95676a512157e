"""Keras layers of the E/I network: the E/I ConvLSTM cell, its area, and the
feedforward pieces around it (docs/science.md, sections 1-2).

Dale's law is enforced the way docs/science.md, section 2 asks: every weight that leaves a
cell type is stored as a non-negative magnitude (`keras.constraints.NonNeg`,
applied by the optimizer after every step) and the cell type's sign is applied
in the forward pass. No signed copy is ever stored, so nothing can drift.

Speed: the kernels that share an input are fused into one convolution
(x -> [g, f, IG, OG] and PN -> [g, f, IG, OG]); each (pre type -> post target)
block is a slice of the fused kernel and `effective_kernels()` returns it by
name. The input projection is computed once per input frame, outside the time
loop, and step 0 skips the recurrent convolution because h = 0 there.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from ei_zoo.network.config import (
    CELL_SETTINGS,
    TARGETS,
    CellSettings,
    cell_type_signs,
    split_points,
    target_sizes,
)

if keras.backend.backend() == "tensorflow":  # TensorFlow's own kernels, on its backend only
    from ei_zoo.network.tf_kernels import fused_batch_norm

_DEFAULTS = CellSettings()


def apply_sign(kernel, sign):
    """Effective weight: the stored magnitude times the cell type's sign.

    `sign=None` means the weight is free (no Dale constraint) and is returned
    as stored.
    """
    return kernel if sign is None else sign * kernel


def weight_initializer(fan_in: int, signed: bool, gain: float = 6.0, signed_scale: float = 1.0):
    """Uniform init with variance gain/(3 fan_in): He for ReLU targets (gain 6), LeCun for
    sigmoid gates (gain 3).

    Signed weights are magnitudes drawn from [0, signed_scale * limit]. Unlike
    a zero-mean init, non-negative weights on non-negative rates give every
    unit a mean drive that grows with the fan-in (about 29 x the mean rate for
    a 3x3x64 kernel at signed_scale=1). The biases can cancel that mean only
    on average over time steps (`EIConvLSTM.balance_biases`), so at full
    scale the recurrent drive swings the area between silence and saturation
    from step to step; at the default 0.1 the mean drive is O(1) and the
    dynamics settle. Adam then grows the magnitudes as far as the task needs.
    """
    limit = math.sqrt(gain / fan_in)
    if signed:
        return keras.initializers.RandomUniform(0.0, signed_scale * limit)
    return keras.initializers.RandomUniform(-limit, limit)


def silence_loss(preactivations):
    """How far the silent channels of ReLU populations are below their threshold.

    For each [N, H, W, C] pre-activation, the mean over channels of
    relu(-max z)^2, the max taken over the batch and every position: zero
    for a channel that fires anywhere in the batch, so live channels feel
    nothing and their tuning is left alone. A channel silent on the whole
    batch gets no gradient through its ReLU; this loss gives it one, towards
    the input that drives it most (docs/silent-units.md).
    """
    # Almost always every channel fires, the loss is 0 and so is its gradient,
    # yet a max's gradient costs five full-size passes (a mask of the maxima,
    # its count, a division, a product). So the loss is computed, with its
    # gradient, only when some channel is silent: a forward max decides.
    def loss():
        total = ops.zeros((), "float32")
        for preactivation in preactivations:
            peak = ops.cast(ops.max(preactivation, axis=(0, 1, 2)), "float32")
            total = total + ops.mean(ops.square(ops.relu(-peak)))
        return total

    silent = [ops.any(ops.max(ops.stop_gradient(z), axis=(0, 1, 2)) < 0) for z in preactivations]
    return ops.cond(ops.any(ops.stack(silent)), loss, lambda: ops.zeros((), "float32"))


def _constant_blocks(blocks):
    """Initializer for a bias made of constant blocks [(size, value), ...]."""

    def initializer(shape, dtype=None):
        values = np.concatenate([np.full(size, value) for size, value in blocks])
        return ops.convert_to_tensor(values.reshape(shape), dtype=dtype)

    return initializer


@keras.saving.register_keras_serializable(package="ei_zoo")
class EIConvLSTMCell(keras.layers.Layer):
    """One time step of the E/I ConvLSTM area (docs/science.md, section 2).

        IG = relu(W_x,IG * x + s_PN |W_PN,IG| * h + b_IG)
        OG = relu(W_x,OG * x + s_PN |W_PN,OG| * h + b_OG)
        i  = sigmoid(s_IG |W_IG,i| *1x1 IG + b_i)
        o  = sigmoid(s_OG |W_OG,o| *1x1 OG + b_o)
        f  = sigmoid(W_x,f * x + s_PN |W_PN,f| * h + b_f)
        g  = relu(W_x,g * x + s_PN |W_PN,g| * h + b_g)
        c' = f . c + i . g,   h' = o . tanh(c')

    A Keras RNN cell: `state_size` is `[principal, principal]` (h and c, each
    [N, H, W, principal]) and `call(x, [h, c])` returns `(h', [h', c'])`, so
    `keras.layers.RNN(cell, return_sequences=True)` runs an area's PN over a
    sequence of frames. `EIConvLSTM` unrolls it itself with `step`, which takes
    the input drive `W_x * x + b` already computed (`project_input`, once per
    frame, not per step) and returns every cell type's rates.

    Args:
        principal, input_gating, output_gating: channels of PN, IG and OG.
        kernel_size: size of the x -> target and PN -> target kernels.
        dale: `standard`, `inh_pn` or `no_dale` (the sign table of docs/science.md).
        input_from_principal: True when x is the PN output of a lower E/I area,
            so the input kernel carries that area's PN sign; False for input
            from an area without cell types (area 2), whose kernel is free.
        resting_drive, forget_bias, gate_drive, signed_weight_scale,
            silence_penalty, signed_principal_output: the cell's settings
            (`ei_zoo.network.config.CellSettings` says what each does).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    ```python
    cell = ei_zoo.EIConvLSTMCell(64, 16, 16, dale="standard")
    pn = keras.layers.RNN(cell, return_sequences=True)(frames)  # [N, T, H, W, 64]
    ```
    """

    def __init__(self, principal, input_gating, output_gating, kernel_size=3, dale="standard",
                 input_from_principal=False, resting_drive=_DEFAULTS.resting_drive,
                 forget_bias=_DEFAULTS.forget_bias, gate_drive=_DEFAULTS.gate_drive,
                 signed_weight_scale=_DEFAULTS.signed_weight_scale,
                 silence_penalty=_DEFAULTS.silence_penalty,
                 signed_principal_output=_DEFAULTS.signed_principal_output, **kwargs):
        self.settings = CellSettings(
            resting_drive=resting_drive, forget_bias=forget_bias, gate_drive=gate_drive,
            signed_weight_scale=signed_weight_scale, silence_penalty=silence_penalty,
            signed_principal_output=signed_principal_output)
        # The cell manages its dtypes itself (see `step`): Keras's autocasting
        # would cast the float32 input drive and cell state to the compute
        # dtype at every step, a pass over each forward and back.
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self.principal = int(principal)
        self.input_gating = int(input_gating)
        self.output_gating = int(output_gating)
        self.kernel_size = int(kernel_size)
        self.dale = dale
        self.input_from_principal = bool(input_from_principal)
        self.signs = cell_type_signs(dale)
        self.input_sign = self.signs["PN"] if self.input_from_principal else None
        self.target_sizes = target_sizes(self.principal, self.input_gating, self.output_gating)
        self.projection_size = sum(self.target_sizes.values())
        self.state_size = [self.principal, self.principal]
        # In-silico perturbation (`ei_zoo.network.models.clamped`): cell type -> fixed rates
        # [H, W, C] that replace the population's at every step, wherever they act.
        # Read when a call is traced; not a setting of the layer, never saved.
        self.clamps = {}

    def _add_kernel(self, name, shape, fan_in, sign, gain=6.0):
        signed = sign is not None
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=weight_initializer(fan_in, signed, gain, self.settings.signed_weight_scale),
            constraint=keras.constraints.NonNeg() if signed else None,
            autocast=False,  # read as float32 under any dtype policy (`step`)
        )

    def build(self, input_shape):
        """`input_shape` is that of one input frame x: (N, H, W, C_in)."""
        self.spatial_shape = tuple(input_shape[1:3])
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("EIConvLSTMCell needs a known number of input channels.")
        k = self.kernel_size
        self.input_kernel = self._add_kernel(
            "input_kernel", (k, k, channels, self.projection_size), k * k * channels,
            self.input_sign,
        )
        self.recurrent_kernel = self._add_kernel(
            "recurrent_kernel", (k, k, self.principal, self.projection_size),
            k * k * self.principal, self.signs["PN"],
        )
        self.input_gate_kernel = self._add_kernel(
            "input_gate_kernel", (1, 1, self.input_gating, self.principal),
            self.input_gating, self.signs["IG"], gain=3.0,
        )
        self.output_gate_kernel = self._add_kernel(
            "output_gate_kernel", (1, 1, self.output_gating, self.principal),
            self.output_gating, self.signs["OG"], gain=3.0,
        )
        target_bias = {"g": self.settings.resting_drive, "f": self.settings.forget_bias,
                       "IG": self.settings.resting_drive, "OG": self.settings.resting_drive}
        self.bias = self.add_weight(
            name="bias",
            shape=(self.projection_size,),
            initializer=_constant_blocks(
                [(self.target_sizes[t], target_bias[t]) for t in TARGETS]
            ),
            autocast=False,
        )
        self.input_gate_bias = self.add_weight(
            name="input_gate_bias", shape=(self.principal,),
            initializer=keras.initializers.Constant(self.settings.gate_drive), autocast=False,
        )
        self.output_gate_bias = self.add_weight(
            name="output_gate_bias", shape=(self.principal,),
            initializer=keras.initializers.Constant(self.settings.gate_drive), autocast=False,
        )

    def project_input(self, frames):
        """Input drive W_x * x + b of one or many frames [N, H, W, C_in].

        The bias is added here, once per frame, rather than at every step.
        """
        kernel = apply_sign(self.input_kernel, self.input_sign)
        drive = ops.conv(frames, ops.cast(kernel, frames.dtype), padding="same")
        return drive + ops.cast(self.bias, frames.dtype)

    def get_initial_state(self, batch_size=None):
        """h = c = 0, each [N, H, W, principal] (what `keras.layers.RNN` starts from)."""
        shape = (batch_size, *self.spatial_shape, self.principal)
        return [ops.zeros(shape, self.compute_dtype), ops.zeros(shape, "float32")]

    def call(self, inputs, states, training=None):
        """One step from an input frame, as `keras.layers.RNN` drives a cell.

        Args:
            inputs: the frame x, [N, H, W, C_in].
            states: `[h, c]` of the previous step, each [N, H, W, principal].
            training: a training call adds the silence penalty (see `step`).

        Returns:
            `(h', [h', c'])`: the PN rates and the new states.
        """
        _, (principal, cell_state), _ = self.step(self.project_input(inputs), list(states),
                                                  training=training)
        return principal, [principal, cell_state]

    def step(self, input_drive, states=None, training=None):
        """One step from the input drive, with every cell type's rates.

        Args:
            input_drive: `project_input(x)` (bias included), [N, H, W, projection_size],
                best in float32 (`EIConvLSTM` casts it once per frame).
            states: `(h, c)` of the previous step, or None at step 0 (h = c = 0);
                h in the compute dtype, c in float32.
            training: a training call adds `silence_penalty` x `silence_loss`.

        Returns:
            `(rates, (h, c), preactivations)`: rates is a dict of PN, IG and OG
            rates; preactivations holds g, f, IG, OG, i and o before their
            nonlinearity (read by `EIConvLSTM.balance_biases`).
        """
        # The 3x3 convolutions run in the compute dtype, everything between them
        # in float32 (docs/design-notes.md, "Precision"); only h leaves in the
        # compute dtype. Under a float32 policy every cast below is the identity.
        drive = ops.cast(input_drive, "float32")
        if states is not None:
            h, c = states
            recurrent = ops.cast(apply_sign(self.recurrent_kernel, self.signs["PN"]), h.dtype)
            drive = drive + ops.cast(ops.conv(h, recurrent, padding="same"), "float32")
        split_at = split_points(self.target_sizes)
        z_g, z_f, z_ig, z_og = ops.split(drive, split_at, axis=-1)
        g = ops.tanh(z_g) if self.settings.signed_principal_output else ops.relu(z_g)
        forget = ops.sigmoid(z_f)
        input_gating = self._clamp("IG", ops.relu(z_ig))
        output_gating = self._clamp("OG", ops.relu(z_og))
        if training and self.settings.silence_penalty:
            relu_drives = ([z_ig, z_og] if self.settings.signed_principal_output
                           else [z_g, z_ig, z_og])
            self.add_loss(self.settings.silence_penalty * silence_loss(relu_drives))
        z_i = self._gate_drive(input_gating, self.input_gate_kernel, self.input_gate_bias, "IG")
        z_o = self._gate_drive(output_gating, self.output_gate_kernel, self.output_gate_bias, "OG")
        cell_state = ops.sigmoid(z_i) * g
        if states is not None:
            cell_state = cell_state + forget * ops.cast(c, "float32")
        principal = self._clamp(
            "PN", ops.cast(ops.sigmoid(z_o) * ops.tanh(cell_state), self.compute_dtype))
        rates = {"PN": principal, "IG": ops.cast(input_gating, self.compute_dtype),
                 "OG": ops.cast(output_gating, self.compute_dtype)}
        preactivations = {"g": z_g, "f": z_f, "IG": z_ig, "OG": z_og, "i": z_i, "o": z_o}
        return rates, (principal, cell_state), preactivations

    def _clamp(self, cell_type, rates):
        """`rates`, or the fixed rates `clamps` holds for `cell_type`, broadcast over the batch."""
        if cell_type not in self.clamps:
            return rates
        return ops.broadcast_to(ops.cast(self.clamps[cell_type], rates.dtype), ops.shape(rates))

    def _gate_drive(self, gating_rates, kernel, bias, cell_type):
        """The 1x1 drive of gate i (from IG) or o (from OG), in float32."""
        kernel = ops.cast(apply_sign(kernel, self.signs[cell_type])[0, 0], "float32")
        return ops.matmul(gating_rates, kernel) + ops.cast(bias, "float32")

    def effective_kernels(self) -> dict[str, np.ndarray]:
        """Every kernel of the cell with its sign applied, by pathway name."""
        recurrent = np.asarray(apply_sign(
            ops.convert_to_numpy(self.recurrent_kernel), self.signs["PN"]))
        blocks = np.split(recurrent, split_points(self.target_sizes), axis=-1)
        kernels = {"input": np.asarray(apply_sign(
            ops.convert_to_numpy(self.input_kernel), self.input_sign))}
        kernels.update({f"PN->{t}": block for t, block in zip(TARGETS, blocks)})
        kernels["IG->i"] = np.asarray(apply_sign(
            ops.convert_to_numpy(self.input_gate_kernel), self.signs["IG"]))
        kernels["OG->o"] = np.asarray(apply_sign(
            ops.convert_to_numpy(self.output_gate_kernel), self.signs["OG"]))
        return kernels

    def get_config(self):
        config = super().get_config()
        config.update(
            principal=self.principal,
            input_gating=self.input_gating,
            output_gating=self.output_gating,
            kernel_size=self.kernel_size,
            dale=self.dale,
            input_from_principal=self.input_from_principal,
            **dataclasses.asdict(self.settings),
        )
        return config



@keras.saving.register_keras_serializable(package="ei_zoo")
class EIConvLSTM(keras.layers.Layer):
    """An E/I ConvLSTM area: the cell unrolled over `timesteps` steps.

    Input: one frame [N, H, W, C] fed at every step (area 3 receives area 2's
    output, computed once), or a sequence [N, T, H, W, C] with one frame per
    step (area 4 receives area 3's PN of step t). Output: a dict with every
    step's rates, `PN` [N, T, H, W, principal], `IG` [..., input_gating] and
    `OG` [..., output_gating], so activations are read without surgery.

    Args:
        principal, input_gating, output_gating, kernel_size, dale,
            input_from_principal, resting_drive, forget_bias, gate_drive,
            signed_weight_scale, silence_penalty, signed_principal_output: the
            cell's (`EIConvLSTMCell`).
        timesteps: T, the steps the area runs.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).
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

    def _input_drives(self, inputs):
        """The input drive of every step, computed outside the time loop."""
        if len(inputs.shape) == 4:  # one frame: one drive, cast once for every step
            return [ops.cast(self.cell.project_input(inputs), "float32")] * self.timesteps
        frames = ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))
        drive = ops.cast(self.cell.project_input(frames), "float32")
        drive = ops.reshape(drive, (-1, self.timesteps) + tuple(drive.shape[1:]))
        # One unstack, not T slices: each slice's gradient is a full-size
        # zero tensor with one step filled in (3% of a step, profiled).
        return ops.unstack(drive, self.timesteps, axis=1)

    def _unroll(self, inputs, training=None):
        """Yield (rates, preactivations) of every step."""
        states = None
        for input_drive in self._input_drives(inputs):
            rates, states, preactivations = self.cell.step(input_drive, states, training=training)
            yield rates, preactivations

    def call(self, inputs, training=None):
        inputs = ops.cast(inputs, self.compute_dtype)
        steps = [rates for rates, _ in self._unroll(inputs, training)]
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

    def drives(self, inputs):
        """For analysis, per step: what each source adds to each target's pre-activation.

        Yields {target: (z, {source: contribution})} as numpy arrays [N, H, W, C]:
        for g, f, IG and OG the sources are `input` (W_x * x, the bias left
        out) and `PN` (the recurrence, zero at the first step); for i the
        source is `IG`, for o `OG`. z is each source's sum plus the bias.
        """
        cell = self.cell
        splits = split_points(cell.target_sizes)
        biases = dict(zip(TARGETS, np.split(ops.convert_to_numpy(cell.bias), splits)))
        gate_biases = {"i": ops.convert_to_numpy(cell.input_gate_bias),
                       "o": ops.convert_to_numpy(cell.output_gate_bias)}
        states = None
        for input_drive in self._input_drives(inputs):
            _, states, preactivations = cell.step(input_drive, states)
            by_target = np.split(np.asarray(ops.convert_to_numpy(input_drive), "float32"),
                                 splits, axis=-1)
            step = {}
            for target, driven in zip(TARGETS, by_target):
                z = np.asarray(ops.convert_to_numpy(preactivations[target]), "float32")
                step[target] = (z, {"input": driven - biases[target], "PN": z - driven})
            for gate, source in (("i", "IG"), ("o", "OG")):
                z = np.asarray(ops.convert_to_numpy(preactivations[gate]), "float32")
                step[gate] = (z, {source: z - gate_biases[gate]})
            yield step

    def balance_biases(self, inputs, iterations=3):
        """Data-dependent initialisation of the biases (docs/science.md, section 2).

        With non-negative rates and sign-constrained magnitudes, the mean drive
        onto every unit is far from zero (positive for excitatory input,
        negative for inhibitory), and how far depends on the data. This sets
        each channel's bias so that, over `inputs` and all steps, its mean
        pre-activation equals its target: `resting_drive` for g, IG and OG
        (active at rest, so inhibition has activity to suppress), `forget_bias`
        for f and `gate_drive` for i and o (gates half open). Only biases move;
        no weight or sign changes. Repeated because the rates, and so the
        recurrent drive, change with the biases.
        """
        cell, settings = self.cell, self.cell.settings
        targets = {"g": settings.resting_drive, "f": settings.forget_bias,
                   "IG": settings.resting_drive, "OG": settings.resting_drive,
                   "i": settings.gate_drive, "o": settings.gate_drive}
        for _ in range(iterations):
            totals = {name: 0.0 for name in targets}
            for _, preactivations in self._unroll(inputs):
                for name, value in preactivations.items():
                    value = ops.cast(value, "float32")
                    totals[name] += ops.convert_to_numpy(ops.mean(value, axis=(0, 1, 2)))
            shift = {name: targets[name] - totals[name] / self.timesteps for name in targets}
            cell.bias.assign(cell.bias + np.concatenate([shift[t] for t in TARGETS]))
            cell.input_gate_bias.assign(cell.input_gate_bias + shift["i"])
            cell.output_gate_bias.assign(cell.output_gate_bias + shift["o"])

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

    def balance_biases(self, sequence):
        """Start every class at the same mean logit, so the loss starts at ln(classes)."""
        logits = ops.convert_to_numpy(ops.cast(self(sequence), "float32"))
        self.bias.assign(self.bias - logits.mean(axis=0))

    def effective_kernel(self) -> np.ndarray:
        return np.asarray(apply_sign(ops.convert_to_numpy(self.kernel), self.sign))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, sign=self.sign)
        return config
