"""The `ei-zoo` command line.

    ei-zoo variants                         the registered networks and their sizes
    ei-zoo train --variant standard ...     train, evaluate and export one network
    ei-zoo export RUN_DIR                   export a finished training run (again)
    ei-zoo list | info ID | download ID     the pretrained zoo
    ei-zoo index [--exported DIR]           rewrite exported/index.json from the exports
    ei-zoo pack [--out DIR]                 archives and index for a download mirror
    ei-zoo analyze ID [--images N]          selectivity and density of one model
    ei-zoo reproduce [--out DIR]            every figure, table and the claims report

User errors end in one line on stderr naming the problem and the fix, and exit
code 2; nothing half-written is left behind. Results go to stdout, progress to
stderr. `--help`, `variants`, `list`, `info` and `index` never import Keras or
TensorFlow, so they answer at once; the other commands import TensorFlow
without its native start-up notices.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from ei_zoo.config import CIFAR10_TEST_IMAGES as TEST_IMAGES
from ei_zoo.optional import quietly_import


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def _command_variants(args):
    import pandas as pd

    from ei_zoo.variants import get_config, list_variants

    rows = []
    for name in list_variants():
        config = get_config(name)
        rows.append({
            "variant": name, "dale": config.dale, "PN": config.principal,
            "IG": config.input_gating, "OG": config.output_gating,
            "parameters": config.parameter_count(),
        })
    print(pd.DataFrame(rows).to_string(index=False))


def training_config_from_args(args):
    from ei_zoo.training import TrainingConfig

    values = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "precision": args.precision, "limit": args.limit}
    if args.learning_rate is not None:
        values["learning_rate"] = args.learning_rate
    return TrainingConfig(**values)


def _command_train(args):
    from ei_zoo.training import train_and_export

    path = train_and_export(
        args.variant, training_config_from_args(args), out=args.out, work_dir=args.work_dir,
        data_dir=args.data_dir, strategy=args.strategy, tensorboard=args.tensorboard,
    )
    if path is not None:  # None on a multi-worker run's workers other than the chief
        _print_summary(path)


def _command_export(args):
    from ei_zoo.training import export_run

    _print_summary(export_run(args.run_dir, out=args.out, data_dir=args.data_dir))


def _print_summary(path):
    from ei_zoo.bundle import read_metadata

    metadata = read_metadata(path)
    print(f"{metadata['id']}: test accuracy {metadata['test_accuracy']:.4f} after "
          f"{metadata['epochs']} epochs ({metadata['training_seconds']:.0f} s); exported to {path}")


def _command_list(args):
    from ei_zoo.index import list_models

    models = list_models(args.exported)
    if models.empty:
        print("No models listed; `ei-zoo index` writes exported/index.json from the exports.")
        return
    models["MB"] = (models["bytes"] / 1e6).round(1)
    print(models[["id", "variant", "seed", "epochs", "test_accuracy", "MB"]]
          .to_string(index=False))


def _command_index(args):
    from ei_zoo.index import exported_dir, write_index

    print(write_index(args.exported if args.exported is not None else exported_dir()))


def _command_info(args):
    from ei_zoo.bundle import MODEL_CARD, read_metadata
    from ei_zoo.cards import model_card
    from ei_zoo.index import find_local

    folder = find_local(args.model, args.cache_dir,
                        need_mirror=not (args.mirror or os.environ.get("EI_ZOO_MIRROR")))
    if folder is None:  # only the mirror has it: downloading needs Keras
        from ei_zoo.zoo import download

        with contextlib.redirect_stdout(sys.stderr):
            folder = download(args.model, mirror=args.mirror, cache_dir=args.cache_dir)
    metadata = read_metadata(folder)
    if args.card:
        card = folder / MODEL_CARD
        print(card.read_text() if card.is_file() else model_card(metadata))
        return
    metadata.pop("files", None)
    print(json.dumps(metadata, indent=2))


def _command_download(args):
    from ei_zoo.zoo import download

    # Progress goes to stderr so that stdout is just the path: `$(ei-zoo download ID)`.
    with contextlib.redirect_stdout(sys.stderr):
        path = download(args.model, mirror=args.mirror, cache_dir=args.cache_dir)
    print(path)


SHOWN = ["area", "cell_type", "n_neurons", "n_silent", "n_near_silent", "selectivity",
         "selectivity_median", "lifetime_sparseness", "kurtosis", "density", "density_pathway",
         "gini", "top10_share"]  # the rest of the columns are in table.csv


def _command_analyze(args):
    import pandas as pd

    from ei_zoo.analysis.figures import figure_threshold_sensitivity
    from ei_zoo.analysis.measure import measure, summarize, thresholds_for, write_thresholds
    from ei_zoo.files import check_writable_folder
    from ei_zoo.progress import Progress

    check_writable_folder(args.out)
    progress = Progress(args.images, label=f"{args.model}: ")
    measurements = measure(args.model, args.images, step=args.step, position=args.position,
                           data_dir=args.data_dir, mirror=args.mirror, progress=progress.add)
    thresholds = thresholds_for(measurements, args.reference, args.mirror)
    table = summarize(measurements, thresholds)
    out = args.out / measurements.model
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    write_thresholds(out / "thresholds.json", thresholds)
    figure_threshold_sensitivity([measurements], thresholds, out / "figures")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[SHOWN].to_string(index=False))
    print(f"Measured on the first {measurements.num_images} CIFAR-10 test images; table, "
          f"thresholds and figures written to {out}")


def _command_reproduce(args):
    from ei_zoo.analysis.reproduce import reproduce
    from ei_zoo.files import check_writable_folder

    check_writable_folder(args.out)
    out = reproduce(args.out, args.exported, args.images, step=args.step,
                    position=args.position, data_dir=args.data_dir)
    print(f"Figures, table.csv and claims.md written to {out}")
    print((out / "claims.md").read_text().split("\n## ")[0])


def _command_pack(args):
    from ei_zoo.zoo import pack

    print(pack(args.exported, args.out))


def _test_images(text):
    """--images: at least 1 and at most the test split's size, refused before any work."""
    value = _positive_int(text)
    if value > TEST_IMAGES:
        raise argparse.ArgumentTypeError(
            f"{value} is more than the {TEST_IMAGES:,} CIFAR-10 test images; pass "
            f"{TEST_IMAGES} or fewer")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the problem and where to look, not the usage),
    and every option's default in its help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ei-zoo", description="Convolutional recurrent networks with E and I cell types.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    variants = commands.add_parser("variants", help="list the registered network variants")
    variants.set_defaults(run=_command_variants)

    train = commands.add_parser("train", help="train, evaluate and export one network")
    train.add_argument("--variant", default="standard", help="registered variant name")
    train.add_argument("--seed", type=int, default=0,
                       help="seeds the weights, the data order and the augmentation")
    train.add_argument("--epochs", type=_positive_int, default=10,
                       help="epoch budget (the zoo's networks: 30)")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="images per step")
    train.add_argument("--learning-rate", type=_positive_float, default=None,
                       help="peak learning rate (default: TrainingConfig's)")
    train.add_argument("--limit", type=_positive_int, default=None,
                       help="train on the first N training images only")
    train.add_argument("--precision", default="mixed_bfloat16",
                       choices=("float32", "mixed_bfloat16", "mixed_float16"),
                       help="Keras dtype policy; variables stay float32")
    train.add_argument("--strategy", default="default",
                       choices=("default", "mirrored", "multiworker"),
                       help="tf.distribute strategy (multiworker: the machines in TF_CONFIG)")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    train.add_argument("--work-dir", type=Path, default=Path("runs"),
                       help="where checkpoints and history live while training")
    train.add_argument("--out", type=Path, default=Path("exported"), help="export folder")
    train.set_defaults(run=_command_train)

    export = commands.add_parser("export", help="export a training run from its checkpoint")
    export.add_argument("run_dir", type=Path, help="the run's folder, e.g. runs/standard-s0")
    export.add_argument("--out", type=Path, default=Path("exported"), help="export folder")
    export.set_defaults(run=_command_export)

    for command in (train, export):
        command.add_argument("--data-dir", default=None,
                             help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")

    listing = commands.add_parser("list", help="the models in exported/index.json")
    listing.add_argument("--exported", type=Path, default=None,
                         help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    listing.set_defaults(run=_command_list)

    index = commands.add_parser("index", help="rewrite exported/index.json from the exports")
    index.add_argument("--exported", type=Path, default=None,
                       help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    index.set_defaults(run=_command_index)

    info = commands.add_parser("info", help="a model's metadata, or its model card")
    info.add_argument("model", help="model id (e.g. standard-s0) or export folder")
    info.add_argument("--card", action="store_true", help="print the model card (README.md)")
    info.set_defaults(run=_command_info)

    download = commands.add_parser("download", help="fetch a model from the mirror into the cache")
    download.add_argument("model", help="model id, e.g. standard-s0")
    download.set_defaults(run=_command_download)

    for command in (info, download):
        command.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")
        command.add_argument("--cache-dir", type=Path, default=None,
                             help="download cache (default: $KERAS_HOME/ei_zoo)")

    analyze = commands.add_parser("analyze", help="selectivity and density of one model")
    analyze.add_argument("model", help="model id (e.g. standard-s0) or export folder")
    analyze.add_argument("--reference", default="standard-s0",
                         help="network whose weights calibrate the density threshold")
    analyze.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")
    analyze.add_argument("--out", type=Path, default=Path("results"),
                         help="folder for the table, thresholds and figures")
    analyze.set_defaults(run=_command_analyze)

    reproduce = commands.add_parser(
        "reproduce", help="analyse every exported model: figures, tables, claims report")
    reproduce.add_argument("--exported", type=Path, default=None,
                           help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    reproduce.add_argument("--out", type=Path, default=Path("results"),
                           help="folder for the figures, table.csv and claims.md")
    reproduce.set_defaults(run=_command_reproduce)

    for command in (analyze, reproduce):
        command.add_argument("--images", type=_test_images, default=TEST_IMAGES,
                             help="first N CIFAR-10 test images")
        command.add_argument("--step", choices=("last", "mean"), default="last",
                             help="response at the last time step or averaged over steps")
        command.add_argument("--position", choices=("mean", "centre"), default="mean",
                             help="response averaged over positions or at the centre")
        command.add_argument("--data-dir", default=None,
                             help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")

    pack = commands.add_parser("pack", help="write the archives and index.json a mirror serves")
    pack.add_argument("--exported", type=Path, default=None,
                      help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    pack.add_argument("--out", type=Path, default=None, help="mirror folder (default: dist/mirror)")
    pack.set_defaults(run=_command_pack)
    return parser


# Commands that read files only: they must answer without importing Keras or TensorFlow.
WITHOUT_KERAS = ("variants", "list", "index", "info")
# What a user's mistake raises (ValueError includes TrainingDivergedError,
# ConnectionError a multi-worker run's WorkerLostError): each names what went
# wrong and what to do, so commands print it in one line and exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, ImportError, ConnectionError)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in WITHOUT_KERAS:
        quietly_import("keras")  # imports TensorFlow on its backend, without the notices
    try:
        args.run(args)
    except USER_ERRORS as error:
        print(f"ei-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
