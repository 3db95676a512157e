"""Training: how a network is trained, and the zoo's resumable recipe.

    settings    TrainingConfig, its command-line options (`add_arguments`), the
                recipe's version and epoch budget; Python only
    fit         optimizer, model preparation, input pipeline, strategy, `train`
    callbacks   epoch time, silent units, test curve, divergence
    run_folder  a run's configs, history and atomically committed checkpoint
    multiworker a run over several machines (tf.distribute's MultiWorkerMirroredStrategy)
    recipe      `train_and_export` and `export_run`: train, evaluate, export

Import from the module: `from ei_zoo.training.recipe import train_and_export`.
"""
