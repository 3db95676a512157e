"""The `ei-zoo` command line.

    ei-zoo variants                         the registered networks and their sizes
    ei-zoo train --variant standard ...     train, evaluate and export one network
    ei-zoo export RUN_DIR                   export a finished (or resumed) training run
    ei-zoo list | info ID | download ID     the pretrained zoo
    ei-zoo pack [--out DIR]                 archives and index for a download mirror
    ei-zoo analyze ID [--images N]          selectivity and density of one model
    ei-zoo reproduce [--out DIR]            every figure, table and the claims report

User errors end in one line on stderr naming the problem and the fix, and exit
code 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


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

    import ei_zoo

    rows = []
    for name in ei_zoo.list_variants():
        config = ei_zoo.get_config(name)
        rows.append({
            "variant": name, "dale": config.dale, "PN": config.principal,
            "IG": config.input_gating, "OG": config.output_gating,
            "parameters": ei_zoo.build_model(config).count_params(),
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
    from ei_zoo.export import read_metadata

    metadata = read_metadata(path)
    print(f"{metadata['id']}: test accuracy {metadata['test_accuracy']:.4f} after "
          f"{metadata['epochs']} epochs ({metadata['training_seconds']:.0f} s); exported to {path}")


def _command_list(args):
    from ei_zoo.zoo import list_models

    models = list_models(args.exported)
    if models.empty:
        print("No models listed; `ei-zoo pack` writes exported/index.json.")
        return
    print(models[["id", "variant", "seed", "test_accuracy", "archive_bytes"]]
          .to_string(index=False))


def _command_info(args):
    from ei_zoo.export import read_metadata
    from ei_zoo.zoo import resolve

    metadata = read_metadata(resolve(args.model, mirror=args.mirror, cache_dir=args.cache_dir))
    metadata.pop("files", None)
    print(json.dumps(metadata, indent=2))


def _command_download(args):
    from ei_zoo.zoo import download

    # Progress goes to stderr so that stdout is just the path: `$(ei-zoo download ID)`.
    with contextlib.redirect_stdout(sys.stderr):
        path = download(args.model, mirror=args.mirror, cache_dir=args.cache_dir)
    print(path)


def _command_analyze(args):
    import keras
    import pandas as pd

    from ei_zoo.analysis.figures import figure_threshold_sensitivity
    from ei_zoo.analysis.measure import measure, summarize, thresholds_for, write_thresholds

    progress = keras.utils.Progbar(args.images, unit_name="image")
    measurements = measure(args.model, args.images, step=args.step, position=args.position,
                           data_dir=args.data_dir, mirror=args.mirror,
                           progress=lambda count: progress.add(count))
    thresholds = thresholds_for(measurements, args.reference, args.mirror)
    table = summarize(measurements, thresholds)
    out = args.out / measurements.model
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    write_thresholds(out / "thresholds.json", thresholds)
    figure_threshold_sensitivity([measurements], thresholds, out / "figures")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.drop(columns=["model", "variant", "seed"]).to_string(index=False))
    print(f"Table, thresholds and figures written to {out}")


def _command_reproduce(args):
    from ei_zoo.analysis.reproduce import reproduce

    out = reproduce(args.out, args.exported, args.images, step=args.step,
                    position=args.position, data_dir=args.data_dir)
    print(f"Figures, table.csv and claims.md written to {out}")
    print((out / "claims.md").read_text().split("\n## ")[0])


def _command_pack(args):
    from ei_zoo.zoo import pack

    print(pack(args.exported, args.out))


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to look, not the usage."""

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
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=_positive_int, default=10)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--learning-rate", type=_positive_float, default=None,
                       help="peak learning rate (default: TrainingConfig's)")
    train.add_argument("--limit", type=_positive_int, default=None,
                       help="train on the first N training images only")
    train.add_argument("--precision", default="mixed_bfloat16",
                       choices=("float32", "mixed_bfloat16", "mixed_float16"))
    train.add_argument("--strategy", default="default",
                       choices=("default", "mirrored", "multiworker"))
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    train.add_argument("--work-dir", type=Path, default=Path("runs"),
                       help="where checkpoints and history live while training")
    train.add_argument("--out", type=Path, default=Path("exported"), help="export folder")
    train.set_defaults(run=_command_train)

    export = commands.add_parser("export", help="export a training run from its checkpoint")
    export.add_argument("run_dir", type=Path, help="the run's folder, e.g. runs/standard-s0")
    export.add_argument("--out", type=Path, default=Path("exported"))
    export.set_defaults(run=_command_export)

    for command in (train, export):
        command.add_argument("--data-dir", default=None,
                             help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")

    listing = commands.add_parser("list", help="the models in exported/index.json")
    listing.add_argument("--exported", type=Path, default=None)
    listing.set_defaults(run=_command_list)

    info = commands.add_parser("info", help="a model's metadata")
    info.add_argument("model", help="model id (e.g. standard-s0) or export folder")
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
    analyze.add_argument("--out", type=Path, default=Path("results"))
    analyze.set_defaults(run=_command_analyze)

    reproduce = commands.add_parser(
        "reproduce", help="analyse every exported model: figures, tables, claims report")
    reproduce.add_argument("--exported", type=Path, default=None)
    reproduce.add_argument("--out", type=Path, default=Path("results"))
    reproduce.set_defaults(run=_command_reproduce)

    for command in (analyze, reproduce):
        command.add_argument("--images", type=_positive_int, default=10_000,
                             help="first N CIFAR-10 test images (default: all 10,000)")
        command.add_argument("--step", choices=("last", "mean"), default="last",
                             help="response at the last time step or averaged over steps")
        command.add_argument("--position", choices=("mean", "centre"), default="mean",
                             help="response averaged over positions or at the centre")
        command.add_argument("--data-dir", default=None,
                             help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")

    pack = commands.add_parser("pack", help="write the archives and index.json a mirror serves")
    pack.add_argument("--exported", type=Path, default=None)
    pack.add_argument("--out", type=Path, default=None, help="mirror folder (default: dist/mirror)")
    pack.set_defaults(run=_command_pack)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ei_zoo.training import TrainingDivergedError, WorkerLostError

    try:
        args.run(args)
    except (ValueError, FileNotFoundError, TrainingDivergedError, WorkerLostError) as error:
        print(f"ei-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
