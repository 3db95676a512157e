"""The `ei-zoo` argument parser: one sub-command per `ei_zoo.cli.commands` function.

Options that several commands share (`--exported`, `--mirror`, `--cache-dir`,
`--data-dir`, `--images`, the model argument) are declared once, here, and
added where they apply.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ei_zoo.cli import commands
from ei_zoo.hub.bundle import MEASURE_GROUPS
from ei_zoo.hub.transfer import MAX_BYTES as DOWNLOAD_MAX_BYTES
from ei_zoo.hub.transfer import TIMEOUT as DOWNLOAD_TIMEOUT
from ei_zoo.network.config import CIFAR10_TEST_IMAGES as TEST_IMAGES
from ei_zoo.shards import parse_shard
from ei_zoo.training.settings import add_arguments, positive_float, positive_int
from ei_zoo.version import __version__

TOP_IMAGES = 8  # `explore --top`: test images shown per neuron
RSA_IMAGES, RSA_MAX_IMAGES = 500, 2000  # `rsa --images`: an RDM holds N x N numbers


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


def test_images(text):
    """--images: at least 1 and at most the test split's size, refused before any work."""
    value = positive_int(text)
    if value > TEST_IMAGES:
        raise argparse.ArgumentTypeError(
            f"{value} is more than the {TEST_IMAGES:,} CIFAR-10 test images; pass "
            f"{TEST_IMAGES} or fewer")
    return value


def rsa_images(text):
    """--images of `rsa`: at least 3 (an RDM needs pairs), at most RSA_MAX_IMAGES."""
    value = positive_int(text)
    if not 3 <= value <= RSA_MAX_IMAGES:
        raise argparse.ArgumentTypeError(
            f"{value}: an RDM needs 3 to {RSA_MAX_IMAGES:,} images (it holds N x N numbers)")
    return value


def _model(parser, optional=False):
    parser.add_argument("model", nargs="?" if optional else None, default=None,
                        help="model id (e.g. standard-s0) or export folder")


def _exported(parser, extra=""):
    parser.add_argument("--exported", type=Path, default=None,
                        help=f"{extra}folder of exports (default: $EI_ZOO_EXPORTED or ./exported)")


def _mirror(parser):
    parser.add_argument("--mirror", default=None, help="mirror URL (default: $EI_ZOO_MIRROR)")


def _cache_dir(parser):
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="download cache (default: $KERAS_HOME/ei_zoo)")


def _data_dir(parser):
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data dir holding cifar10 (default: $TFDS_DATA_DIR)")


def _images(parser):
    parser.add_argument("--images", type=test_images, default=TEST_IMAGES,
                        help="first N CIFAR-10 test images")


def _response(parser):
    parser.add_argument("--step", choices=("last", "mean"), default="last",
                        help="response at the last time step or averaged over steps")
    parser.add_argument("--position", choices=("mean", "centre"), default="mean",
                        help="response averaged over positions or at the centre")
    parser.add_argument("--stream", action="store_true",
                        help="stream the test images through every network again, even where "
                             "its export keeps the response moments (the same numbers, slower)")


def _training(commands_, name, help_text):
    parser = commands_.add_parser(name, help=help_text)
    _data_dir(parser)
    parser.add_argument("--progress", choices=("auto", "bar", "epochs"), default="auto",
                        help="on stderr: Keras's bar, one plain line per epoch, or (auto) the "
                             "bar on a terminal and plain lines off one")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace what --out holds under the model's id (an export of "
                             "another run, e.g. a shipped network, or any other folder or "
                             "file); without it that is refused before any work")
    parser.add_argument("--out", type=Path, default=Path("exported"), help="export folder")
    return parser


def _add_training_commands(commands_) -> None:
    train = _training(commands_, "train", "train, evaluate and export one network")
    train.add_argument("--variant", default="standard", help="registered variant name")
    add_arguments(train)
    train.add_argument("--strategy", default="default",
                       choices=("default", "mirrored", "multiworker"),
                       help="tf.distribute strategy (multiworker: the machines in TF_CONFIG)")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    train.add_argument("--work-dir", type=Path, default=Path("runs"),
                       help="where checkpoints and history live while training")
    train.set_defaults(run=commands.command_train)

    export = _training(commands_, "export", "export a training run from its checkpoint")
    export.add_argument("run_dir", type=Path, help="the run's folder, e.g. runs/standard-s0")
    export.set_defaults(run=commands.command_export)


def _add_zoo_commands(commands_) -> None:
    listing = commands_.add_parser(
        "list", help="the models in exported/index.json and in the download cache")
    _exported(listing)
    _cache_dir(listing)
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument("--paper", action="store_true",
                       help="only the paper's zoo (and your own networks), not the design study")
    shown.add_argument("--study", action="store_true",
                       help="only the design study's networks, with their change")
    listing.set_defaults(run=commands.command_list)

    index = commands_.add_parser("index", help="rewrite exported/index.json from the exports")
    _exported(index)
    index.set_defaults(run=commands.command_index)

    info = commands_.add_parser("info", help="a model's metadata, or its model card")
    _model(info)
    info.add_argument("--card", action="store_true", help="print the model card (README.md)")
    download = commands_.add_parser("download", help="fetch a model from the mirror into the cache")
    download.add_argument("model", help="model id, e.g. standard-s0")
    download.add_argument("--timeout", type=positive_float, default=DOWNLOAD_TIMEOUT,
                          help="seconds the whole download may take")
    download.add_argument("--max-mb", type=positive_int, default=DOWNLOAD_MAX_BYTES // 10**6,
                          help="the most MB (10^6 bytes) the archive and the export may take")
    for command, run in ((info, commands.command_info), (download, commands.command_download)):
        _mirror(command)
        _cache_dir(command)
        command.set_defaults(run=run)

    pack = commands_.add_parser("pack", help="write the archives and index.json a mirror serves")
    _exported(pack)
    pack.add_argument("--out", type=Path, default=None, help="mirror folder (default: dist/mirror)")
    pack.set_defaults(run=commands.command_pack)


def _add_analysis_commands(commands_) -> None:
    analyze = commands_.add_parser("analyze", help="selectivity and density of one model")
    _model(analyze)
    analyze.add_argument("--reference", default=None,
                         help="network whose weights calibrate the density threshold "
                              "(default: standard-s0; where it is not available, the network "
                              "itself, with a warning)")
    analyze.add_argument("--out", type=Path, default=Path("analyses"),
                         help="folder for the table, thresholds and figures (written to "
                              "<out>/<model id>)")
    _response(analyze)
    analyze.set_defaults(run=commands.command_analyze)

    perturb = commands_.add_parser(
        "perturb", help="accuracy with each population clamped, drive shares, class tuning")
    _model(perturb, optional=True)
    perturb.add_argument("--save", action="store_true",
                         help="keep the tables beside the export (its measured/ folder), "
                              "where `reproduce` reads them")
    perturb.add_argument("--overwrite", action="store_true",
                         help="with --save: replace the measures an export already keeps; "
                              "without it that is refused before any work (with --zoo, "
                              "exports that keep every measure are skipped)")
    perturb.add_argument("--measures", nargs="+", choices=tuple(MEASURE_GROUPS),
                         default=list(MEASURE_GROUPS),
                         help="what to measure: function (the clamps and class tuning: "
                              "perturbation.csv, class_tuning.csv), drive (drive.csv), moments "
                              "(response and stage moments, kept with --save only); "
                              "default: all three")
    perturb.add_argument("--zoo", action="store_true", help="every export of --exported")
    _exported(perturb, "with --zoo: ")
    perturb.add_argument("--shard", type=parse_shard, default=None, metavar="i/n|auto",
                         help="with --zoo: shard i of n of the exports, balanced by estimated "
                              "cost (auto: a SLURM job array's task)")
    perturb.set_defaults(run=commands.command_perturb)

    explore = commands_.add_parser(
        "explore", help="a neuron explorer: a static site of what every neuron does")
    _model(explore, optional=True)
    explore.add_argument("--zoo", action="store_true",
                         help="every export of --exported, with an overview page")
    _exported(explore, "with --zoo: ")
    explore.add_argument("--out", type=Path, default=None,
                         help="site folder, replaced whole if it holds an earlier site "
                              "(default: explorer/<model id>, or explorer/zoo with --zoo)")
    explore.add_argument("--top", type=positive_int, default=TOP_IMAGES,
                         help="test images shown per neuron, those it responds to most")
    explore.set_defaults(run=commands.command_explore)
    rsa = commands_.add_parser(
        "rsa", help="representational similarity: RDMs per population and step, compared")
    rsa.add_argument("models", nargs="+", metavar="MODEL",
                     help="model ids (e.g. standard-s0 standard-s1) or export folders")
    rsa.add_argument("--populations", nargs="+", default=["area4.PN", "area4.IG", "area4.OG"],
                     metavar="NAME", help="<area>.<cell type>[.t<step>] names")
    rsa.add_argument("--images", type=rsa_images, default=RSA_IMAGES,
                     help="first N CIFAR-10 test images (an RDM holds N x N numbers)")
    rsa.add_argument("--out", type=Path, default=Path("rsa"),
                     help="folder for similarity.csv, rdms.npz and the figures")
    rsa.set_defaults(run=commands.command_rsa)
    _data_dir(rsa)
    for command in (analyze, perturb, explore, rsa):
        _mirror(command)


def _add_reproduce_command(commands_):
    reproduce = commands_.add_parser(
        "reproduce", help="analyse every exported model: figures, tables, claims report")
    _exported(reproduce)
    reproduce.add_argument("--out", type=Path, default=Path("results"),
                           help="folder for the figures, table.csv and claims.md")
    reproduce.add_argument("--check", type=Path, default=None, metavar="DIR",
                           help="then compare the results with those in DIR (e.g. docs/results, "
                                "made on another CPU): exit 1 if a number differs beyond the "
                                "rounding another CPU causes, or a verdict differs")
    _response(reproduce)
    reproduce.set_defaults(run=commands.command_reproduce)
    return reproduce


def build_parser() -> argparse.ArgumentParser:
    """The `ei-zoo` parser; `parse_args` gives a namespace whose `run(args)` runs the command."""
    parser = _Parser(
        prog="ei-zoo", description="Convolutional recurrent networks with E and I cell types.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    variants = commands_.add_parser("variants", help="list the registered network variants")
    variants.set_defaults(run=commands.command_variants)
    _add_training_commands(commands_)
    _add_zoo_commands(commands_)
    _add_analysis_commands(commands_)
    reproduce = _add_reproduce_command(commands_)
    for name, command in commands_.choices.items():
        if name in ("analyze", "perturb", "explore") or command is reproduce:
            _images(command)
            _data_dir(command)
    return parser
