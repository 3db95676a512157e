"""The `ei-zoo` command line.

    ei-zoo variants                         the registered networks and their sizes
    ei-zoo train --variant standard ...     train, evaluate and export one network
    ei-zoo export RUN_DIR                   export a finished training run (again)
    ei-zoo list | info ID | download ID     the pretrained zoo
    ei-zoo index [--exported DIR]           rewrite exported/index.json from the exports
    ei-zoo pack [--out DIR]                 archives and index for a download mirror
    ei-zoo analyze ID [--images N]          selectivity and density of one model
    ei-zoo perturb ID [--save]              each population clamped; drive shares; class tuning
    ei-zoo explore ID | --zoo [--out DIR]   a neuron explorer site: what every neuron does
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
import signal
import sys
import warnings
from pathlib import Path

from ei_zoo.errors import USER_ERRORS
from ei_zoo.hub import files
from ei_zoo.network.config import CIFAR10_TEST_IMAGES as TEST_IMAGES
from ei_zoo.optional import quietly_import
from ei_zoo.training.settings import (
    TrainingConfig,
    add_arguments,
    config_from_arguments,
    positive_int,
)


def _command_variants(args):
    import pandas as pd

    from ei_zoo.network.registry import get_config, list_variants

    rows = []
    for name in list_variants():
        config = get_config(name)
        rows.append({
            "variant": name, "dale": config.dale, "PN": config.principal,
            "IG": config.input_gating, "OG": config.output_gating,
            "parameters": config.parameter_count(),
        })
    print(pd.DataFrame(rows).to_string(index=False))


def _command_train(args):
    from ei_zoo.paper.study import design_change_metadata, training_changes
    from ei_zoo.progress import keras_verbose
    from ei_zoo.training.recipe import train_and_export

    # A study variant trains with its change (`standard.epochs_60`: 60 epochs) unless
    # the option is given another value on the command line.
    defaults = TrainingConfig()
    changes = {field: value for field, value in training_changes(args.variant).items()
               if getattr(args, field, getattr(defaults, field)) == getattr(defaults, field)}
    config = config_from_arguments(args, **changes)
    with contextlib.redirect_stdout(sys.stderr):  # Keras's bars and notes are progress
        path = train_and_export(
            args.variant, config, out=args.out, work_dir=args.work_dir, data_dir=args.data_dir,
            strategy=args.strategy, tensorboard=args.tensorboard,
            verbose=keras_verbose(args.progress),
            overwrite=args.overwrite, metadata=design_change_metadata(args.variant))
    if path is not None:  # None on a multi-worker run's workers other than the chief
        _print_summary(path)


def _command_export(args):
    from ei_zoo.paper.study import design_change_metadata
    from ei_zoo.progress import keras_verbose
    from ei_zoo.training.recipe import export_run
    from ei_zoo.training.run_folder import RUN_FILE, read_run

    metadata = {}
    if (args.run_dir / RUN_FILE).is_file():  # else export_run names the problem
        metadata = design_change_metadata(read_run(args.run_dir)[0].variant)
    with contextlib.redirect_stdout(sys.stderr):
        path = export_run(args.run_dir, out=args.out, data_dir=args.data_dir,
                          verbose=keras_verbose(args.progress), overwrite=args.overwrite,
                          metadata=metadata)
    _print_summary(path)


def _print_summary(path):
    from ei_zoo.hub.bundle import read_metadata

    metadata = read_metadata(path)
    print(f"{metadata['id']}: test accuracy {metadata['test_accuracy']:.4f} after "
          f"{metadata['epochs']} epochs ({metadata['training_seconds']:.0f} s); exported to {path}")


def _command_list(args):
    from ei_zoo.hub.index import list_models

    models = list_models(args.exported, args.cache_dir)
    if args.study:
        models = models[models["design_change"].notna()]
    elif args.paper:
        models = models[models["design_change"].isna()]
    if models.empty:
        print("No models listed; `ei-zoo index` writes exported/index.json from the exports, "
              "and `ei-zoo download ID` fills the cache.")
        return
    models["MB"] = (models["bytes"] / 1e6).round(1)
    columns = ["id", "variant", "seed", "epochs", "test_accuracy", "MB", "where"]
    if args.study:
        columns.insert(2, "design_change")
    print(models[columns].to_string(index=False))


def _command_index(args):
    from ei_zoo.hub.index import exported_dir, write_index

    print(write_index(args.exported if args.exported is not None else exported_dir()))


def _command_info(args):
    from ei_zoo.hub.bundle import MODEL_CARD, read_metadata
    from ei_zoo.hub.cards import model_card
    from ei_zoo.hub.index import find_local

    folder = find_local(args.model, args.cache_dir,
                        need_mirror=not (args.mirror or os.environ.get("EI_ZOO_MIRROR")))
    if folder is None:  # only the mirror has it: downloading needs Keras
        from ei_zoo.hub.zoo import download

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
    from ei_zoo.hub.zoo import download

    # Progress goes to stderr so that stdout is just the path: `$(ei-zoo download ID)`.
    with contextlib.redirect_stdout(sys.stderr):
        path = download(args.model, mirror=args.mirror, cache_dir=args.cache_dir)
    print(path)


SHOWN = ["area", "cell_type", "n_neurons", "n_silent", "n_near_silent", "selectivity",
         "selectivity_median", "lifetime_sparseness", "kurtosis", "density", "density_pathway",
         "gini", "top10_share"]  # the rest of the columns are in table.csv


def _command_analyze(args):
    import pandas as pd

    from ei_zoo.analysis.measure import measure, summarize, thresholds_for, write_thresholds
    from ei_zoo.paper.figures import figure_threshold_sensitivity
    from ei_zoo.progress import Progress

    files.check_writable_folder(args.out)
    # A named reference is found before the images are measured, or refused.
    thresholds = thresholds_for(None, args.reference, args.mirror) if args.reference else None
    progress = Progress(args.images, label=f"{args.model}: ")
    measurements = measure(args.model, args.images, step=args.step, position=args.position,
                           data_dir=args.data_dir, mirror=args.mirror, progress=progress.add,
                           kept=not args.stream)
    thresholds = thresholds or thresholds_for(measurements, None, args.mirror)
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


def _command_perturb(args):
    import pandas as pd

    from ei_zoo.analysis.function import drive, perturb, population_summary
    from ei_zoo.analysis.measure import RESPONSE_BATCH, response_moments
    from ei_zoo.hub.bundle import CLASS_TUNING, DRIVE, INDEX, PERTURBATION, RESPONSE_MOMENTS
    from ei_zoo.hub.export import write_measured
    from ei_zoo.hub.index import write_index
    from ei_zoo.hub.zoo import resolve
    from ei_zoo.network.responses import moments_to_arrays

    if args.save and args.images != TEST_IMAGES:
        raise ValueError(f"--save keeps measures of the whole test split; drop --images "
                         f"{args.images} (or keep them unsaved)")
    folder = resolve(args.model, args.mirror)
    perturbation, tuning = perturb(folder, args.images, data_dir=args.data_dir)
    drives = drive(folder, args.images, data_dir=args.data_dir)
    intact = perturbation[(perturbation["area"] == "intact") & (perturbation["class"] == "all")]
    with pd.option_context("display.width", 200):
        print(population_summary(perturbation, tuning).to_string(
            index=False, float_format=lambda value: f"{value:.4f}"))
        print(drives.drop(columns="model").to_string(
            index=False, float_format=lambda value: f"{value:.3f}"))
    print(f"Intact accuracy {intact['accuracy'].iloc[0]:.4f} on the first {args.images} "
          "CIFAR-10 test images; accuracy_drop_*: intact minus clamped; share: of the "
          "variance of the target's pre-activation, the share its source carries")
    if args.save:
        moments = response_moments(folder, TEST_IMAGES, RESPONSE_BATCH, args.data_dir)
        kept = {PERTURBATION: perturbation, CLASS_TUNING: tuning, DRIVE: drives,
                RESPONSE_MOMENTS: moments_to_arrays(moments, RESPONSE_BATCH)}
        write_measured(folder, kept)
        if (folder.parent / INDEX).is_file():
            write_index(folder.parent)
        print(f"Kept in {folder} ({', '.join(kept)})")


def _command_explore(args):
    from ei_zoo.analysis.explore import (
        INDEX_PAGE,
        TOP_K,
        check_site_folder,
        explore,
        explore_zoo,
    )
    from ei_zoo.hub.index import exported_dir
    from ei_zoo.progress import Progress

    if (args.model is None) == (not args.zoo):
        raise ValueError("name one model (e.g. `ei-zoo explore standard-s0`) or pass --zoo "
                         "for every export, not both")
    # The default names the export's folder, also when the model is given as a path.
    out = check_site_folder(args.out or Path("explorer") / (Path(args.model).name if args.model
                                                            else "zoo"))
    if args.zoo:
        exported = args.exported or exported_dir()
        explore_zoo(exported, out, args.images, args.top or TOP_K, data_dir=args.data_dir,
                    progress=lambda model_id: print(f"{model_id}: exploring", file=sys.stderr,
                                                    flush=True))
    else:
        progress = Progress(args.images, label=f"{args.model}: ")
        explore(args.model, out, args.images, args.top or TOP_K, data_dir=args.data_dir,
                mirror=args.mirror, progress=progress.add)
    print(out / INDEX_PAGE)


def _command_reproduce(args):
    from ei_zoo.analysis.check import ATOL, RTOL, TABLES, compare_results
    from ei_zoo.paper.reproduce import reproduce

    files.check_writable_folder(args.out)
    if args.check is not None and not (args.check / TABLES[0]).is_file():
        raise FileNotFoundError(
            f"--check {args.check}: no {TABLES[0]} there; pass a folder that `ei-zoo reproduce` "
            "wrote, e.g. docs/results.")
    out = reproduce(args.out, args.exported, args.images, step=args.step,
                    position=args.position, data_dir=args.data_dir, kept=not args.stream)
    # The verdicts only: the numbers are in claims.md and the tables.
    print((out / "claims.md").read_text().split("\n## ")[0].strip())
    print(f"\nFigures, table.csv and claims.md written to {out}")
    if args.check is None:
        return 0
    compared, differences = compare_results(out, args.check)
    if not differences:
        print(f"All {compared:,} numbers and labels agree with {args.check} (numbers within "
              f"rtol {RTOL} or atol {ATOL}).")
        return 0
    print(f"{len(differences)} of {compared:,} numbers or labels differ from {args.check} by "
          f"more than rtol {RTOL} and atol {ATOL}:")
    for line in differences[:20]:
        print(f"  {line}")
    if len(differences) > 20:
        print(f"  ... and {len(differences) - 20} more")
    return 1


def _command_pack(args):
    from ei_zoo.hub.zoo import pack

    print(pack(args.exported, args.out))


def _test_images(text):
    """--images: at least 1 and at most the test split's size, refused before any work."""
    value = positive_int(text)
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
    add_arguments(train)
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
        command.add_argument("--progress", choices=("auto", "bar", "epochs"), default="auto",
                             help="on stderr: Keras's bar, one plain line per epoch, or (auto) "
                                  "the bar on a terminal and plain lines off one")
        command.add_argument("--overwrite", action="store_true",
                             help="replace an export of another run in --out (e.g. a shipped "
                                  "network); without it that is refused before any work")

    listing = commands.add_parser(
        "list", help="the models in exported/index.json and in the download cache")
    listing.add_argument("--exported", type=Path, default=None,
                         help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    listing.add_argument("--cache-dir", type=Path, default=None,
                         help="download cache (default: $KERAS_HOME/ei_zoo)")
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument("--paper", action="store_true",
                       help="only the paper's zoo (and your own networks), not the design study")
    shown.add_argument("--study", action="store_true",
                       help="only the design study's networks (ei_zoo.paper.study), with "
                            "their change")
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
    analyze.add_argument("--reference", default=None,
                         help="network whose weights calibrate the density threshold "
                              "(default: standard-s0; where it is not available, the network "
                              "itself, with a warning)")
    analyze.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")
    analyze.add_argument("--out", type=Path, default=Path("results"),
                         help="folder for the table, thresholds and figures")
    analyze.set_defaults(run=_command_analyze)

    perturb = commands.add_parser(
        "perturb", help="accuracy with each population clamped, drive shares, class tuning")
    perturb.add_argument("model", help="model id (e.g. standard-s0) or export folder")
    perturb.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")
    perturb.add_argument("--save", action="store_true",
                         help="keep the tables in the export, where `reproduce` reads them")
    perturb.set_defaults(run=_command_perturb)

    explore = commands.add_parser(
        "explore", help="a neuron explorer: a static site of what every neuron does")
    explore.add_argument("model", nargs="?", default=None,
                         help="model id (e.g. standard-s0) or export folder")
    explore.add_argument("--zoo", action="store_true",
                         help="every export of --exported, with an overview page")
    explore.add_argument("--exported", type=Path, default=None,
                         help="with --zoo: folder of exports (default: $EI_ZOO_EXPORTED or "
                              "./exported)")
    explore.add_argument("--out", type=Path, default=None,
                         help="site folder, replaced whole if it holds an earlier site "
                              "(default: explorer/<model id>, or explorer/zoo with --zoo)")
    explore.add_argument("--top", type=positive_int, default=None,
                         help="test images shown per neuron, those it responds to most "
                              "(default: ei_zoo.analysis.explore.TOP_K)")
    explore.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")
    explore.set_defaults(run=_command_explore)

    reproduce = commands.add_parser(
        "reproduce", help="analyse every exported model: figures, tables, claims report")
    reproduce.add_argument("--exported", type=Path, default=None,
                           help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    reproduce.add_argument("--out", type=Path, default=Path("results"),
                           help="folder for the figures, table.csv and claims.md")
    reproduce.add_argument("--check", type=Path, default=None, metavar="DIR",
                           help="then compare the results with those in DIR (e.g. docs/results, "
                                "made on another CPU): exit 1 if a number differs beyond the "
                                "rounding another CPU causes, or a verdict differs")
    reproduce.set_defaults(run=_command_reproduce)

    for command in (analyze, reproduce, perturb, explore):
        command.add_argument("--images", type=_test_images, default=TEST_IMAGES,
                             help="first N CIFAR-10 test images")
        command.add_argument("--data-dir", default=None,
                             help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")
    for command in (analyze, reproduce):
        command.add_argument("--step", choices=("last", "mean"), default="last",
                             help="response at the last time step or averaged over steps")
        command.add_argument("--position", choices=("mean", "centre"), default="mean",
                             help="response averaged over positions or at the centre")
        command.add_argument("--stream", action="store_true",
                             help="stream the test images through every network again, even "
                                  "where its export keeps the response moments (the same "
                                  "numbers, slower)")

    pack = commands.add_parser("pack", help="write the archives and index.json a mirror serves")
    pack.add_argument("--exported", type=Path, default=None,
                      help="folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")
    pack.add_argument("--out", type=Path, default=None, help="mirror folder (default: dist/mirror)")
    pack.set_defaults(run=_command_pack)
    return parser


# Commands that read files only: they must answer without importing Keras or TensorFlow.
WITHOUT_KERAS = ("variants", "list", "index", "info")


# What Ctrl-C leaves, by command: each writes its results whole or not at all.
INTERRUPTED = {
    "train": "; the run keeps its last finished epoch: run the same command again to resume",
    "export": "; nothing was exported",
    "download": "; the cache is as it was",
    "analyze": "; nothing was written",
    "perturb": "; nothing was written",
    "explore": "; nothing was written",
    "reproduce": "; nothing was written",
    "pack": "; the archives written so far are whole",
}


def interrupted_message(command: str) -> str:
    return f"ei-zoo {command}: interrupted{INTERRUPTED.get(command, '')}"


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"ei-zoo: warning: {message}\n"


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; its exit status."""
    warnings.formatwarning = _one_line_warning
    try:
        if args.command not in WITHOUT_KERAS:
            quietly_import("keras")  # imports TensorFlow on its backend, without the notices
        code = args.run(args)
    except BrokenPipeError:  # e.g. `ei-zoo list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except USER_ERRORS as error:
        print(f"ei-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message(args.command), file=sys.stderr)
        return INTERRUPTED_STATUS
    return code or 0


INTERRUPTED_STATUS = 130  # 128 + SIGINT, as shells report it


def console() -> None:
    """The `ei-zoo` program: `main`, with Ctrl-C ending it at once, as a kill would.

    Unwinding a KeyboardInterrupt through TensorFlow's running input pipeline
    crashed the process now and then (`free(): invalid next size`, status -6),
    before or after the message. So SIGINT prints the command's one line,
    removes its unfinished staging folders and exits with 130, without
    teardown; everything the zoo writes survives a kill (`ei_zoo.hub.files`).
    """
    # TensorFlow's C++ log (oneDNN, CPU features, tf.data notices) would bury the
    # program's output; set before TensorFlow is imported, and a user's own value wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args()

    def interrupted(signum, frame):
        print(interrupted_message(args.command), file=sys.stderr, flush=True)
        files.remove_unfinished()
        sys.stdout.flush()
        os._exit(INTERRUPTED_STATUS)

    signal.signal(signal.SIGINT, interrupted)
    sys.exit(run(args))


if __name__ == "__main__":
    console()
