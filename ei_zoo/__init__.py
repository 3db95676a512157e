"""ei_zoo: convolutional recurrent networks with excitatory and inhibitory cell types.

The public names below are imported from their modules on first use (PEP 562),
listed here in full. Importing the package itself loads only the Python-only
modules (`config`, `variants`, `bundle`): Keras, and with it the backend
(TensorFlow by default), loads when a name that needs it is first used. So
`ei-zoo --help`, `variants`, `list` and `info` start in a fraction of a
second, and the package imports where TensorFlow is not installed.

Importing it changes no environment variable: the `ei-zoo` program quiets
TensorFlow's C++ log for itself (`ei_zoo.cli.console`), and a relative
`$TFDS_DATA_DIR` is resolved where it is read (`ei_zoo.data.resolve_data_dir`).
"""

from ei_zoo.paper import study  # noqa: F401, I001  (registers the design study's variants)
from ei_zoo.hub.bundle import read_metadata, verify_export
from ei_zoo.network.config import NetworkConfig
from ei_zoo.optional import lazy_exports
from ei_zoo.network.registry import get_config, list_variants, register_variant
from ei_zoo.version import __version__  # noqa: F401

_LAZY = {
    "ConvArea": "ei_zoo.network.layers",
    "EIConvLSTM": "ei_zoo.network.layers",
    "EIConvLSTMCell": "ei_zoo.network.cell",
    "Readout": "ei_zoo.network.layers",
    "SequenceMaxPooling2D": "ei_zoo.network.layers",
    "EINetwork": "ei_zoo.network.models",
    "activation_model": "ei_zoo.network.models",
    "balance_biases": "ei_zoo.network.balance",
    "build_model": "ei_zoo.network.models",
    "check_images": "ei_zoo.network.models",
    "effective_weights": "ei_zoo.network.models",
    "with_precision": "ei_zoo.network.models",
    "export_model": "ei_zoo.hub.export",
    "list_models": "ei_zoo.hub.index",
    "create_model": "ei_zoo.hub.zoo",
    "load": "ei_zoo.hub.zoo",
    "test_images": "ei_zoo.data",
}

__all__ = [
    "ConvArea", "EIConvLSTM", "EIConvLSTMCell", "EINetwork", "NetworkConfig", "Readout",
    "SequenceMaxPooling2D", "activation_model", "balance_biases", "build_model",
    "check_images", "create_model", "effective_weights", "export_model", "get_config",
    "list_models", "list_variants", "load", "read_metadata", "register_variant",
    "test_images", "verify_export", "with_precision",
]


# Quietly: these modules import Keras, and with it TensorFlow's C++ notices.
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
