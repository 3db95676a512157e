"""The E/I ConvLSTM cell: one time step of an E/I area (docs/science.md, section 2).

Dale's law is enforced the way docs/science.md, section 2 asks: every weight that leaves a
cell type is stored as a non-negative magnitude (`keras.constraints.NonNeg`,
applied by the optimizer after every step) and the cell type's sign is applied
in the forward pass. No signed copy is ever stored, so nothing can drift.

The kernels that share an input are fused into one convolution (x -> [g, f, IG,
OG] and PN -> [g, f, IG, OG]); each (pre type -> post target) block is a slice of
the fused kernel and `effective_kernels()` returns it by name.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import ops

from ei_zoo.network.config import TARGETS, CellSettings, cell_type_signs, split_points, target_sizes

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
    on average over time steps (`ei_zoo.network.balance`), so at full
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


def _clamp(rates, values):
    """`rates`, or `values` in their place (cast and broadcast to their shape)."""
    if values is None:
        return rates
    return ops.broadcast_to(ops.cast(values, rates.dtype), ops.shape(rates))


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
        principal: channels of PN.
        input_gating: channels of IG.
        output_gating: channels of OG.
        kernel_size: size of the x -> target and PN -> target kernels.
        dale: `standard`, `inh_pn` or `no_dale` (the sign table of docs/science.md).
        input_from_principal: True when x is the PN output of a lower E/I area,
            so the input kernel carries that area's PN sign; False for input
            from an area without cell types (area 2), whose kernel is free.
        resting_drive: target mean pre-activation of g, IG and OG at init.
        forget_bias: target mean pre-activation of the forget gate at init.
        gate_drive: target mean pre-activation of the input and output gates at init.
        signed_weight_scale: init range of sign-constrained magnitudes, as a
            fraction of the free (He) init's.
        silence_penalty: weight of the loss that returns silent ReLU channels to
            their threshold during training; 0 turns it off.
        signed_principal_output: the plain ConvLSTM form (g = tanh, signed PN output).
            `ei_zoo.network.config.CellSettings` says more of each setting.
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

    def step(self, input_drive, states=None, training=None, clamps=None):
        """One step from the input drive, with every cell type's rates.

        Args:
            input_drive: `project_input(x)` (bias included), [N, H, W, projection_size],
                best in float32 (`EIConvLSTM` casts it once per frame).
            states: `(h, c)` of the previous step, or None at step 0 (h = c = 0);
                h in the compute dtype, c in float32.
            training: a training call adds `silence_penalty` x `silence_loss`.
            clamps: an in-silico perturbation: cell type -> rates (broadcastable
                to [N, H, W, C]) that replace that population's rates in this step
                wherever they act (IG and OG in the gates, PN in the state passed on
                and the output); the cell state c runs on. None: no clamp.

        Returns:
            `(rates, (h, c), preactivations)`: rates is a dict of PN, IG and OG
            rates; preactivations holds g, f, IG, OG, i and o before their
            nonlinearity (read by `ei_zoo.network.balance`).
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
        clamps = clamps or {}
        input_gating = _clamp(ops.relu(z_ig), clamps.get("IG"))
        output_gating = _clamp(ops.relu(z_og), clamps.get("OG"))
        if training and self.settings.silence_penalty:
            relu_drives = ([z_ig, z_og] if self.settings.signed_principal_output
                           else [z_g, z_ig, z_og])
            self.add_loss(self.settings.silence_penalty * silence_loss(relu_drives))
        z_i = self._gate_drive(input_gating, self.input_gate_kernel, self.input_gate_bias, "IG")
        z_o = self._gate_drive(output_gating, self.output_gate_kernel, self.output_gate_bias, "OG")
        cell_state = ops.sigmoid(z_i) * g
        if states is not None:
            cell_state = cell_state + forget * ops.cast(c, "float32")
        principal = _clamp(ops.cast(ops.sigmoid(z_o) * ops.tanh(cell_state), self.compute_dtype),
                           clamps.get("PN"))
        rates = {"PN": principal, "IG": ops.cast(input_gating, self.compute_dtype),
                 "OG": ops.cast(output_gating, self.compute_dtype)}
        preactivations = {"g": z_g, "f": z_f, "IG": z_ig, "OG": z_og, "i": z_i, "o": z_o}
        return rates, (principal, cell_state), preactivations

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
