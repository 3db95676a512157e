"""What analysis keeps beside an export: its measures on the whole test split.

An export's own files (`metadata.json` lists them) never change once written. What the
analysis derives from them, the perturbation, class-tuning and drive tables and the
streamed response and stage moments (`ei-zoo perturb --save`), lives apart, in the
export's `measured/` folder, under its own `manifest.json`:

    <model_id>/measured/manifest.json   the export it was measured on (the sha256 of its
                                        metadata.json) and the sha256 of every file here
    <model_id>/measured/perturbation.csv, class_tuning.csv, drive.csv,
                        response_moments.npz, stage_moments.npz   (any of them)

The folder is written as one unit, beside it and then renamed into place
(`ei_zoo.hub.files.replace_folder`): a kill leaves the previous unit or the new one,
never a mixture. Every reader verifies it (`read_measured`). Tables are written with
`TABLE_DIGITS` significant digits, what their float32 sources carry, so that measuring
again on one machine writes the same bytes.

Pure Python, numpy and pandas: no Keras.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ei_zoo.hub import files
from ei_zoo.hub.bundle import (
    MEASURED,
    MEASURED_FILES,
    MEASURED_MANIFEST,
    METADATA,
    measured_manifest,
    read_metadata,
    sha256_file,
)

# Significant digits of the kept tables: a rate is float32 (about 7 digits), so more would
# be noise that differs from run to run in its last places.
TABLE_DIGITS = 7


def read_measured(path: str | Path) -> dict[str, Path]:
    """The measures an export keeps, verified: `{file name: path}` (empty if none).

    Args:
        path: an export folder.

    Returns:
        Each file its `measured/manifest.json` lists, by name.

    Raises:
        ValueError: in one line naming the file and the fix, when the manifest is
            damaged, was written for another version of the export's metadata, or a
            listed file is missing or changed.
    """
    folder = Path(path)
    manifest = measured_manifest(folder)
    if manifest is None:
        return {}
    where = folder / MEASURED
    fix = f"measure it again with `ei-zoo perturb {folder} --save --overwrite`"
    if manifest["metadata_sha256"] != sha256_file(folder / METADATA):
        raise ValueError(f"{where} was measured on another version of {folder / METADATA}; "
                         f"{fix}.")
    kept = {}
    for name, expected in sorted(manifest["files"].items()):
        file = where / name
        if not file.is_file() or sha256_file(file) != expected:
            state = "is missing" if not file.is_file() else "does not match its sha256"
            raise ValueError(f"{file} {state} in {where / MEASURED_MANIFEST}; {fix}.")
        kept[name] = file
    return kept


def measured_table(kept: dict[str, Path], name: str, dtype=None) -> pd.DataFrame | None:
    """One kept table (`perturbation.csv`, ...) of what `read_measured` verified; None if
    the export does not keep it."""
    return pd.read_csv(kept[name], dtype=dtype) if name in kept else None


def check_can_keep(path: str | Path, names, replace: bool = False) -> dict[str, Path]:
    """Refuse, before any work, to keep measures `names` where the export keeps them
    already, unless `replace`; return what it keeps (`read_measured`).

    Raises:
        FileExistsError: one of `names` is kept and not `replace`.
        ValueError: the kept measures do not verify.
    """
    folder = Path(path)
    kept = read_measured(folder)
    present = sorted(set(names) & set(kept))
    if present and not replace:
        raise FileExistsError(
            f"{read_metadata(folder).get('id', folder.name)} already keeps "
            f"{', '.join(present)} in {folder / MEASURED}; pass --overwrite (replace=True) to "
            "replace them.")
    return kept


def write_measured(path: str | Path, measured: dict, replace: bool = False) -> Path:
    """Keep measures beside an export, as one unit with the ones it already keeps.

    Args:
        path: an export folder.
        measured: `{file name: value}`, names from `MEASURED_FILES`: a DataFrame for
            a `.csv` table, a dict of arrays for an `.npz`.
        replace: replace files of these names that the export already keeps.

    Returns:
        The `measured/` folder.

    Raises:
        ValueError: a name that is not a kept measure, or kept measures that do not
            verify (`read_measured`).
        FileExistsError: the export already keeps one of these files and not `replace`.

    Example:

    ```python
    perturbation, tuning = ei_zoo.analysis.perturb(folder)
    write_measured(folder, {"perturbation.csv": perturbation, "class_tuning.csv": tuning})
    ```
    """
    folder = Path(path)
    metadata = read_metadata(folder)
    unknown = sorted(set(measured) - set(MEASURED_FILES))
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a measure an export keeps; use one of "
                         f"{', '.join(MEASURED_FILES)}.")
    kept = check_can_keep(folder, measured, replace)
    target = folder / MEASURED
    with files.staging(target, "measured") as staging:
        staging.chmod(0o755)
        for name, file in kept.items():
            if name not in measured:
                files.write_bytes(staging / name, file.read_bytes())
        for name, value in measured.items():
            files.write_bytes(staging / name, _encoded(value))
        manifest = {"model": metadata.get("id", folder.name),
                    "metadata_sha256": sha256_file(folder / METADATA),
                    "files": {file.name: sha256_file(file) for file in sorted(staging.iterdir())}}
        files.write_text(staging / MEASURED_MANIFEST,
                         json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files.replace_folder(staging, target)
    return target


def _encoded(value) -> bytes:
    if isinstance(value, pd.DataFrame):
        return value.to_csv(index=False, float_format=f"%.{TABLE_DIGITS}g").encode()
    buffer = io.BytesIO()
    np.savez(buffer, **value)
    return buffer.getvalue()
