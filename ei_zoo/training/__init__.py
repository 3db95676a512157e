"""Training: how a network is trained, and the zoo's resumable recipe.

    settings    TrainingConfig, its command-line options (`add_arguments`), the
                recipe's version and epoch budget; Python only
    fit         optimizer, model preparation, input pipeline, strategy, `train`
    callbacks   epoch time, silent units, test curve, divergence
    run_folder  a run's configs, history and atomically committed checkpoint
    recipe      `train_and_export` and `export_run`: train, evaluate, export

`ei_zoo.training.X` keeps working for every name it had when training was one
module: `settings`'s names are imported here; the others, which need Keras and
TensorFlow, are imported from the module `_LAZY` names on first use (PEP 562),
so that `ei-zoo --help`, which reads `settings`, never loads TensorFlow.
"""

from ei_zoo.optional import lazy_exports
from ei_zoo.training.settings import (
    PRECISIONS,
    RECIPE_VERSION,
    TRAIN_IMAGES,
    ZOO_EPOCHS,
    TrainingConfig,
    add_arguments,
    config_from_arguments,
)

_MODULES = {
    "ei_zoo.training.fit": ("first_images", "get_strategy", "local_copy", "make_optimizer",
                            "evaluation_batches", "prepare_model", "train", "training_batches"),
    "ei_zoo.training.callbacks": ("DIVERGENCE_FACTOR", "SILENT_UNIT_IMAGES", "EpochTimer",
                                  "SilentUnits", "StopOnDivergence", "TestCurve",
                                  "TrainingDivergedError", "diverged", "silent_log_key"),
    "ei_zoo.training.run_folder": ("BACKUP_DIR", "CHECKPOINT_FILE", "RUN_FILE", "RunCheckpoint",
                                   "read_checkpoint", "read_history", "run_lock"),
    "ei_zoo.training.recipe": ("check_replaceable", "export_run", "finished_export",
                               "hardware", "train_and_export"),
    "ei_zoo.network.responses": ("population_moments", "silent_units"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = ["PRECISIONS", "RECIPE_VERSION", "TRAIN_IMAGES", "ZOO_EPOCHS", "TrainingConfig",
           "add_arguments", "config_from_arguments", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
