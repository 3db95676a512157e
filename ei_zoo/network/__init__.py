"""The network: its config and the registry of variants (Python only), the Keras layers,
`EINetwork`, and the inspection of rates, weights and responses.

    config      NetworkConfig, CellSettings, cell types and fused-kernel layout
    registry    the one registry of variants: register_variant, get_config
    cell        EIConvLSTMCell, a Keras RNN cell: one time step of an E/I area
    layers      EIConvLSTM (the cell unrolled), ConvArea, SequenceMaxPooling2D, Readout
    models      EINetwork, build_model, activation_model, effective_weights, check_images
    balance     balance_biases, the data-dependent initialisation of the biases
    responses   responses of neurons and their streamed moments (numpy only)

Importing this package loads nothing heavy: `ei_zoo.network.models` (or any
network function of `ei_zoo`) registers the Keras classes that `model.keras`
files hold.
"""
