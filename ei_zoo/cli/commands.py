"""What each `ei-zoo` command does, over the public API (`ei_zoo.cli.parser` declares
their options). Each imports what it needs when it runs, so `--help` and the
commands that read files only never load Keras."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from ei_zoo.hub import files
from ei_zoo.network.config import CIFAR10_TEST_IMAGES as TEST_IMAGES
from ei_zoo.training.settings import TrainingConfig, config_from_arguments


def command_variants(args):
    import pandas as pd

    from ei_zoo.network.registry import get_config, list_variants

    rows = []
    for name in list_variants():
        config = get_config(name)
        rows.append({
            "variant": name, "dale": config.dale, "PN": config.principal,
            "IG": config.input_gating, "OG": config.output_gating,
            "timesteps": config.timesteps,
        })
    print(pd.DataFrame(rows).to_string(index=False))


def command_train(args):
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


def command_export(args):
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


def command_list(args):
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


def command_index(args):
    from ei_zoo.hub.index import exported_dir, write_index

    exported = args.exported if args.exported is not None else exported_dir()
    if exported.is_dir():  # else write_index names the problem
        files.check_writable_folder(exported, "--exported")  # before every export is hashed
    print(write_index(exported))


def command_info(args):
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


def command_download(args):
    from ei_zoo.hub.zoo import download

    # Progress goes to stderr so that stdout is just the path: `$(ei-zoo download ID)`.
    with contextlib.redirect_stdout(sys.stderr):
        path = download(args.model, mirror=args.mirror, cache_dir=args.cache_dir,
                        timeout=args.timeout, max_bytes=args.max_mb * 10**6)
    print(path)


SHOWN = ["area", "cell_type", "n_neurons", "n_silent", "n_near_silent", "selectivity",
         "selectivity_median", "lifetime_sparseness", "kurtosis", "density", "density_pathway",
         "gini", "top10_share"]  # the rest of the columns are in table.csv


# The folder `analyze` writes whole for a model, `<--out>/<model id>`.
ANALYSIS = files.OutputFolder(".ei_zoo_analysis", "an analysis folder of `ei-zoo analyze`")


def command_analyze(args):
    import pandas as pd

    from ei_zoo.analysis.measure import measure, thresholds_for, write_thresholds
    from ei_zoo.analysis.tables import summarize
    from ei_zoo.hub.bundle import read_metadata
    from ei_zoo.hub.zoo import resolve
    from ei_zoo.paper.figures import figure_threshold_sensitivity
    from ei_zoo.progress import Progress

    files.check_writable_folder(args.out)
    # A named reference is found before the images are measured, or refused.
    thresholds = thresholds_for(None, args.reference, args.mirror) if args.reference else None
    folder = resolve(args.model, args.mirror)
    out = ANALYSIS.check(args.out / read_metadata(folder)["id"])
    progress = Progress(args.images, label=f"{args.model}: ")
    measurements = measure(folder, args.images, step=args.step, position=args.position,
                           data_dir=args.data_dir, progress=progress.add, kept=not args.stream)
    thresholds = thresholds or thresholds_for(measurements, None, args.mirror)
    table = summarize(measurements, thresholds)
    with ANALYSIS.writing(out) as written:
        table.to_csv(written / "table.csv", index=False)
        write_thresholds(written / "thresholds.json", thresholds)
        figure_threshold_sensitivity([measurements], thresholds, written / "figures")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[SHOWN].to_string(index=False))
    print(f"Measured on the first {measurements.num_images} CIFAR-10 test images; table, "
          f"thresholds and figures written to {out}")


def command_rsa(args):
    import numpy as np

    from ei_zoo import data
    from ei_zoo.analysis.extract import parse_name
    from ei_zoo.analysis.rsa import (
        compare_rdms,
        figure_rdms,
        figure_similarity,
        label_of,
        rdms,
        unresponsive_images,
    )
    from ei_zoo.hub.bundle import check_model_reference
    from ei_zoo.hub.zoo import resolve

    for name in args.populations:  # refused before any image is read
        parse_name(name)
    for model in args.models:
        check_model_reference(model)
    files.check_writable_folder(args.out)
    images, classes = data.test_images(args.images, args.data_dir)
    order = np.argsort(classes, kind="stable")  # class blocks show in the RDMs
    images, classes = images[order], classes[order]
    found = rdms([resolve(model, args.mirror) for model in args.models], args.populations,
                 images=images)
    similarity = compare_rdms(found)
    with files.staging(args.out, "rsa") as staging:
        similarity.to_csv(staging / "similarity.csv")
        np.savez(staging / "rdms.npz", rdms=found.get_matrices(),
                 labels=np.array(similarity.index, dtype=str), test_image=order,
                 image_class=classes)
        figure_rdms(found, staging / "rdms.png", "test image, sorted by class")
        figure_similarity(similarity, staging / "similarity.png")
        files.move_files(staging, args.out)
    print(similarity.round(3).to_string())
    for index, count in enumerate(unresponsive_images(found)):
        if count:
            print(f"{label_of(found, index)}: {count} of {args.images} images draw the same "
                  "response from every neuron; their pairs are undefined and left out")
    print(f"{found.n_rdm} RDMs over the first {args.images} CIFAR-10 test images (sorted by "
          "class); "
          f"similarity.csv, rdms.npz and figures written to {args.out}")


def command_perturb(args):
    if args.save and args.images != TEST_IMAGES:
        raise ValueError(f"--save keeps measures of the whole test split; drop --images "
                         f"{args.images} (or keep them unsaved)")
    if not args.save and set(args.measures) == {"moments"}:
        raise ValueError("--measures moments are only kept, never printed; add --save, or "
                         "measure function or drive")
    folders = _perturbed_exports(args)
    if args.save:
        folders = _to_save(folders, args)
    for folder in folders:
        if args.zoo:
            print(f"== {folder.name}", flush=True)
        _perturb_export(folder, args)
    if args.zoo:
        index, count = args.shard or (0, 1)
        print(f"Shard {index} of {count} (balanced by estimated cost) perturbed "
              f"{len(folders)} export(s): {', '.join(folder.name for folder in folders)}")


def _perturbed_exports(args) -> list:
    """The export folders `perturb` measures: its model, or with --zoo those of
    --exported that --shard gives this process."""
    from ei_zoo.analysis.function import perturbation_cost
    from ei_zoo.hub.bundle import export_folders
    from ei_zoo.hub.index import exported_dir
    from ei_zoo.hub.zoo import resolve
    from ei_zoo.shards import shard_of

    if (args.model is None) == (not args.zoo):
        raise ValueError("name one model (e.g. `ei-zoo perturb standard-s0`) or pass --zoo "
                         "for every export, not both")
    if args.shard is not None and not args.zoo:
        raise ValueError("--shard splits the exports of --zoo; pass --zoo, or drop --shard")
    if not args.zoo:
        return [resolve(args.model, args.mirror)]
    exported = args.exported or exported_dir()
    folders = export_folders(exported)
    if not folders:
        raise FileNotFoundError(f"--zoo: no exports in {exported}; pass --exported DIR, a "
                                "folder of exports")
    costs = {folder: perturbation_cost(folder, args.images) for folder in folders}
    return shard_of(costs, *(args.shard or (0, 1)))


def _to_save(folders, args) -> list:
    """The exports `perturb --save` measures, every one checked before any work: writable,
    and keeping none of the --measures' files unless --overwrite. With --zoo, exports that
    keep every one of them are skipped, so a task started again resumes."""
    from ei_zoo.hub.bundle import MEASURE_GROUPS
    from ei_zoo.hub.measured import check_can_keep, read_measured

    names = {name for group in args.measures for name in MEASURE_GROUPS[group]}
    todo = []
    for folder in folders:
        files.check_writable_folder(folder, "--save")
        kept = read_measured(folder)
        if args.zoo and names <= set(kept) and not args.overwrite:
            print(f"{folder.name}: keeps {', '.join(sorted(names))} already, skipped "
                  "(--overwrite measures it again)", flush=True)
            continue
        check_can_keep(folder, names, args.overwrite)
        todo.append(folder)
    return todo


def _perturb_export(folder, args):
    """`perturb` of one export: print its tables; with --save keep them in it."""
    import pandas as pd

    from ei_zoo.analysis.function import drive, perturb, population_summary
    from ei_zoo.analysis.measure import RESPONSE_BATCH, response_moments
    from ei_zoo.analysis.perturbation import FUNCTIONAL_DROP
    from ei_zoo.analysis.stages import stage_moments
    from ei_zoo.hub.bundle import (
        CLASS_TUNING,
        DRIVE,
        INDEX,
        PERTURBATION,
        RESPONSE_MOMENTS,
        STAGE_MOMENTS,
    )
    from ei_zoo.hub.index import write_index
    from ei_zoo.hub.measured import write_measured
    from ei_zoo.network.responses import moments_to_arrays

    kept = {}
    with pd.option_context("display.width", 200):
        if "function" in args.measures:
            perturbation, tuning = perturb(folder, args.images, data_dir=args.data_dir)
            kept.update({PERTURBATION: perturbation, CLASS_TUNING: tuning})
            intact = perturbation[(perturbation["area"] == "intact")
                                  & (perturbation["class"] == "all")]
            print(population_summary(perturbation, tuning).to_string(
                index=False, float_format=lambda value: f"{value:.2f}"))
            print(f"Intact accuracy {100 * intact['accuracy'].iloc[0]:.2f}% on the first "
                  f"{args.images} CIFAR-10 test images; points_lost_*: intact minus clamped "
                  "accuracy, in points; functional / not functional / indeterminate: the "
                  "paired 95% interval of points_lost_step_mean lies above / below / across "
                  f"{100 * FUNCTIONAL_DROP:g} point", flush=True)
        if "drive" in args.measures:
            kept[DRIVE] = drive(folder, args.images, data_dir=args.data_dir)
            print(kept[DRIVE].drop(columns="model").to_string(
                index=False, float_format=lambda value: f"{value:.3f}"))
            print("share: of the variance of the target's pre-activation, the share its "
                  "source carries", flush=True)
    if args.save:
        if "moments" in args.measures:
            moments = response_moments(folder, TEST_IMAGES, RESPONSE_BATCH, args.data_dir)
            stages = stage_moments(folder, TEST_IMAGES, RESPONSE_BATCH, args.data_dir)
            kept.update({RESPONSE_MOMENTS: moments_to_arrays(moments, RESPONSE_BATCH),
                         STAGE_MOMENTS: moments_to_arrays(stages, RESPONSE_BATCH)})
        write_measured(folder, kept, replace=args.overwrite)
        if (folder.parent / INDEX).is_file():  # other tasks may be saving beside it
            write_index(folder.parent, shared=True)
        print(f"Kept in {folder} ({', '.join(kept)})", flush=True)


def command_explore(args):
    from ei_zoo.analysis.explore import INDEX_PAGE, SITE, explore, explore_zoo
    from ei_zoo.hub.index import exported_dir
    from ei_zoo.progress import Progress

    if (args.model is None) == (not args.zoo):
        raise ValueError("name one model (e.g. `ei-zoo explore standard-s0`) or pass --zoo "
                         "for every export, not both")
    # The default names the export's folder, also when the model is given as a path.
    out = SITE.check(args.out or Path("explorer") / (Path(args.model).name if args.model
                                                     else "zoo"))
    if args.zoo:
        exported = args.exported or exported_dir()
        explore_zoo(exported, out, args.images, args.top, data_dir=args.data_dir,
                    progress=lambda model_id: print(f"{model_id}: exploring", file=sys.stderr,
                                                    flush=True))
    else:
        progress = Progress(args.images, label=f"{args.model}: ")
        explore(args.model, out, args.images, args.top, data_dir=args.data_dir,
                mirror=args.mirror, progress=progress.add)
    print(out / INDEX_PAGE)


def command_reproduce(args):
    from ei_zoo.analysis.check import ATOL, RTOL, TABLES, compare_results
    from ei_zoo.paper.reproduce import RESULTS, reproduce

    if args.check is not None and args.check.resolve() == args.out.resolve():
        raise ValueError(f"--check {args.check} is --out: the results would be compared with "
                         "themselves once written; pass another --out, or --check a folder "
                         "written before (e.g. docs/results)")
    RESULTS.check(args.out)
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


def command_pack(args):
    from ei_zoo.hub.zoo import pack

    print(pack(args.exported, args.out))
