"""ei_zoo: convolutional recurrent networks with excitatory and inhibitory cell types."""

import os

__version__ = "0.1.0"

# TensorFlow's C++ start-up notices (oneDNN, CPU features) would bury the CLI's
# output; set before TensorFlow is first imported, and a user's own value wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ei_zoo.config import NetworkConfig
from ei_zoo.export import export_model
from ei_zoo.layers import ConvArea, EIConvLSTM, EIConvLSTMCell, Readout, SequenceMaxPooling2D
from ei_zoo.models import (
    activation_model,
    balance_biases,
    build_model,
    check_images,
    effective_weights,
    network_config,
)
from ei_zoo.variants import get_config, list_variants
from ei_zoo.zoo import list_models, load

__all__ = [
    "ConvArea",
    "EIConvLSTM",
    "EIConvLSTMCell",
    "NetworkConfig",
    "Readout",
    "SequenceMaxPooling2D",
    "activation_model",
    "balance_biases",
    "build_model",
    "check_images",
    "effective_weights",
    "export_model",
    "get_config",
    "list_models",
    "list_variants",
    "load",
    "network_config",
]
