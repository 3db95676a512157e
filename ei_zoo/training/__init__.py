"""Training: how a network is trained, and the zoo's resumable recipe.

    settings    TrainingConfig, its command-line options (`add_arguments`), the
                recipe's version and epoch budget; Python only
    fit         optimizer, model preparation, input pipeline, strategy, `train`
    callbacks   epoch time, silent units, test curve, divergence
    run_folder  a run's configs, history and atomically committed checkpoint
    recipe      `train_and_export` and `export_run`: train, evaluate, export

Importing the package loads `settings` only (no TensorFlow); import the
others by name, e.g. `from ei_zoo.training.recipe import train_and_export`.
"""

from ei_zoo.training.settings import (
    PRECISIONS,
    RECIPE_VERSION,
    TRAIN_IMAGES,
    ZOO_EPOCHS,
    TrainingConfig,
    add_arguments,
    config_from_arguments,
)

__all__ = ["PRECISIONS", "RECIPE_VERSION", "TRAIN_IMAGES", "ZOO_EPOCHS", "TrainingConfig",
           "add_arguments", "config_from_arguments"]
