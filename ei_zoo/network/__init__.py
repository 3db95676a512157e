"""The network: its config and the registry of variants (Python only), the Keras layers,
`EINetwork`, and the inspection of rates, weights and responses.

    config      NetworkConfig, CellSettings, cell types and fused-kernel layout
    registry    the one registry of variants: register_variant, get_config
    layers      EIConvLSTMCell (a Keras RNN cell), EIConvLSTM, ConvArea, Readout
    models      EINetwork, build_model, activation_model, effective_weights, clamps
    responses   responses of neurons and their streamed moments (numpy only)

Importing this package loads nothing heavy: `ei_zoo.network.models` (or any
network function of `ei_zoo`) registers the Keras classes that `model.keras`
files hold.
"""
