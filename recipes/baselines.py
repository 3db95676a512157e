"""Untrained baselines: each network of the paper's zoo as its recipe left it before the
first training step (initialised with its seed, biases balanced on its first training
images), exported to `<exported>/untrained/<id>` with its response and stage moments, so
that `ei-zoo reproduce` can say which of the claims' differences training creates.

    python recipes/baselines.py --exported exported
    ei-zoo perturb --zoo --exported exported/untrained --measures function drive --save

Each baseline is rebuilt from its trained export's own metadata (network config,
training config, seed), so it is that network before training. A baseline already
exported with its moments is skipped; `--only` picks model ids. The second command
keeps what each population does, as for trained networks.
"""

import argparse
import sys
from pathlib import Path

from ei_zoo.analysis.measure import RESPONSE_BATCH, kept_moments, response_moments
from ei_zoo.analysis.stages import stage_moments
from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub.bundle import (
    RESPONSE_MOMENTS,
    STAGE_MOMENTS,
    UNTRAINED_DIR,
    export_folders,
    is_export,
    is_trained,
    read_metadata,
)
from ei_zoo.hub.export import export_model
from ei_zoo.hub.measured import read_measured, write_measured
from ei_zoo.network.config import CIFAR10_TEST_IMAGES, NetworkConfig
from ei_zoo.network.responses import moments_to_arrays
from ei_zoo.training.fit import evaluation_batches, first_images, prepare_model, training_batches
from ei_zoo.training.settings import TrainingConfig


def baseline_metadata(trained: dict, metrics: dict) -> dict:
    """What a baseline's `metadata.json` says beyond what the export derives itself."""
    return {
        "id": trained["id"], "variant": trained["variant"], "seed": trained["seed"],
        "dataset": trained.get("dataset", "cifar10"), "splits": trained.get("splits", {}),
        "epochs": 0, "precision": trained.get("precision"), "training": trained["training"],
        "recipe_version": trained.get("recipe_version"), "trained": False,
        "trained_counterpart": trained["id"], "learning_curve": False,
        "test_accuracy": round(float(metrics["accuracy"]), 4),
        "test_loss": round(float(metrics["loss"]), 4),
    }


def export_baseline(trained_folder: Path, out: Path, data_dir=None) -> Path:
    """The baseline of the trained export `trained_folder`, exported to `out/<id>` with
    its response and stage moments on the 10,000 test images."""
    trained = read_metadata(trained_folder)
    network = NetworkConfig.from_dict(trained["config"])
    config = TrainingConfig.from_dict(trained["training"])
    batches = training_batches(config, data_dir)
    model = prepare_model(network, config, first_images(batches, config.balance_images))
    metrics = model.evaluate(evaluation_batches(config, data_dir), return_dict=True, verbose=0)
    folder = export_model(model, out / trained["id"], baseline_metadata(trained, metrics))
    responses = response_moments(folder, CIFAR10_TEST_IMAGES, RESPONSE_BATCH, data_dir)
    stages = stage_moments(folder, CIFAR10_TEST_IMAGES, RESPONSE_BATCH, data_dir)
    write_measured(folder, {RESPONSE_MOMENTS: moments_to_arrays(responses, RESPONSE_BATCH),
                            STAGE_MOMENTS: moments_to_arrays(stages, RESPONSE_BATCH)})
    return folder


def done(folder: Path) -> bool:
    """Whether `folder` is a baseline already exported with both moments."""
    if not is_export(folder):
        return False
    kept = read_measured(folder)
    return all(kept_moments(kept, CIFAR10_TEST_IMAGES, RESPONSE_BATCH, name)
               is not None for name in (RESPONSE_MOMENTS, STAGE_MOMENTS))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", type=Path, required=True,
                        help="the zoo's folder; baselines go to its untrained/")
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="these model ids only")
    args = parser.parse_args(argv)
    out = args.exported / UNTRAINED_DIR
    try:
        for folder in export_folders(args.exported):
            metadata = read_metadata(folder)
            if ("design_change" in metadata or not is_trained(metadata)
                    or (args.only and folder.name not in args.only)):
                continue
            if done(out / folder.name):
                print(f"{folder.name}: done already", flush=True)
                continue
            baseline = export_baseline(folder, out, args.data_dir)
            print(f"{folder.name}: untrained baseline exported to {baseline} "
                  f"({100 * read_metadata(baseline)['test_accuracy']:.1f}% test accuracy)",
                  flush=True)
    except USER_ERRORS as error:
        print(f"baselines.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
