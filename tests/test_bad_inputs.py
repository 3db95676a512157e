"""One line naming the fix, for every bad input to the API and the CLI (a table)."""

import collections
import json
import re
import shutil
import socket

import numpy as np
import pytest

import ei_zoo
import ei_zoo.hub.export
from ei_zoo import analysis, data
from ei_zoo.cli import main as cli_main
from ei_zoo.hub import files
from ei_zoo.hub.bundle import sha256_file
from ei_zoo.hub.index import write_index
from ei_zoo.hub.zoo import pack
from ei_zoo.network.config import NetworkConfig
from ei_zoo.network.models import check_images
from ei_zoo.training.recipe import export_run, train_and_export
from ei_zoo.training.settings import TrainingConfig

from conftest import entries


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def workspace(tiny_export, tmp_path, monkeypatch):
    """Folders for the bad-input cases: an exported model, a damaged copy, a plain folder,
    two broken run folders. Only `exported/standard-s0` is known; no mirror is set."""
    shutil.copytree(tiny_export, tmp_path / "exported" / "standard-s0")
    damaged = shutil.copytree(tiny_export, tmp_path / "damaged" / "standard-s0")
    weights = bytearray((damaged / "connectivity.npz").read_bytes())
    weights[-100] ^= 0xFF
    (damaged / "connectivity.npz").write_bytes(bytes(weights))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a model")
    # Where a model's folder would go: a folder of the user's, and a file.
    (tmp_path / "mine" / "standard-s0").mkdir(parents=True)
    (tmp_path / "mine" / "standard-s0" / "notes.txt").write_text("mine")
    (tmp_path / "filed").mkdir()
    (tmp_path / "filed" / "standard-s0").write_text("a file")
    for name, text in (("torn", ""), ("bad_field", '{"network": {"principal": "eight"}, '
                                                   '"training": {}}')):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "run.json").write_text(text)
    # Two runs that wrote one folder at once: two headers in one history.
    interleaved = tmp_path / "runs" / "interleaved"
    interleaved.mkdir()
    files.write_json(interleaved / "run.json", {
        "network": NetworkConfig().to_dict(),
        "training": TrainingConfig(epochs=1).to_dict()})
    (interleaved / "history.csv").write_text(
        "epoch,accuracy,loss\n0,0.1,2.3\nepoch,accuracy,loss\n0,0.1,2.3\n")
    monkeypatch.setenv("EI_ZOO_EXPORTED", str(tmp_path / "exported"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("EI_ZOO_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


Case = collections.namedtuple("Case", "name call error message")


def _mirror(w, change=None, ship=False, **claims):
    """A mirror folder, `w/mirror`, of the workspace's standard-s0 as `change(folder)` leaves
    a copy of it, its index claiming `claims`; with `ship`, the workspace's zoo (exported/)
    ships standard-s0 as it is. Returns its path, for --mirror."""
    if ship:
        write_index(w / "exported")
    source = w / "mirror_source"
    shutil.copytree(w / "exported" / "standard-s0", source / "standard-s0")
    if change is not None:
        change(source / "standard-s0")
    mirror = pack(source, w / "mirror")
    index = json.loads((mirror / "index.json").read_text())
    index["models"][0].update(claims)
    (mirror / "index.json").write_text(json.dumps(index))
    return str(mirror)


def _rewrite_listed(folder, name, data):
    """Change a file of an export and the sha256 its metadata.json lists for it."""
    (folder / name).write_bytes(data)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["files"][name] = sha256_file(folder / name)
    (folder / "metadata.json").write_text(json.dumps(metadata))


def _forged(w, change, indexed=False):
    """The workspace's standard-s0 with its metadata.json changed by `change(metadata)`, the
    export's own sha256 left as they were: `exported/standard-s0` under the index that
    `indexed` writes first, else a copy in `forged/` (no index beside it)."""
    if indexed:
        write_index(w / "exported")
        folder = w / "exported" / "standard-s0"
    else:
        folder = shutil.copytree(w / "exported" / "standard-s0", w / "forged" / "standard-s0")
    metadata = json.loads((folder / "metadata.json").read_text())
    change(metadata)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def _renamed(variant):
    """A forgery consistent in itself: the variant renamed in the metadata and its config."""
    def change(metadata):
        metadata["variant"] = metadata["config"]["variant"] = variant
    return change


def _as_dale(dale, signs):
    def change(metadata):
        metadata["config"]["dale"] = dale
        for types in metadata["cell_types"].values():
            for cell_type, sign in signs.items():
                types[cell_type]["sign"] = sign
    return change


IMAGES_OK = np.full((2, 32, 32, 3), 128, dtype="float32")


def _api(name, call, error, message):
    return Case(name, call, error, message)


def _cli(name, argv, message):
    return Case(name, argv, "cli", message)


BAD_INPUTS = [
    # The Python API: ValueError or FileNotFoundError.
    _api("unknown_variant", lambda w: ei_zoo.build_model("inh-pn"), ValueError,
         r"Unknown variant 'inh-pn'\. Did you mean inh_pn"),
    _api("unknown_model_id", lambda w: ei_zoo.load("standard-s1"), FileNotFoundError,
         r"No model 'standard-s1' in .* \(did you mean standard-s0\?\); pass mirror=URL"),
    _api("images_wrong_size", lambda w: check_images(IMAGES_OK[:, :16, :16], image_size=32),
         ValueError, r"shape \(2, 16, 16, 3\); this network takes \[N, 32, 32, 3\]"),
    _api("images_channels_first", lambda w: check_images(IMAGES_OK.transpose(0, 3, 1, 2)),
         ValueError, r"shape \(2, 3, 32, 32\), channels first; .*channels last, \[N, S, S, 3\]: "
                     r"pass images\.transpose\(0, 2, 3, 1\)"),
    _api("images_channels_first_for_a_network", lambda w: check_images(
        np.full((8, 3, 32, 32), 128, "float32"), image_size=32),
         ValueError, r"channels first; .*\[N, S, S, 3\]"),
    _api("batch_size_above_the_training_set", lambda w: TrainingConfig(batch_size=60_000),
         ValueError, r"batch_size=60000 is more than the 50,000 CIFAR-10 training images"),
    _api("analyze_batch_size_zero",
         lambda w: analysis.analyze("standard-s0", batch_size=0), ValueError,
         r"batch_size=0 must be a positive integer"),
    _api("analyze_batch_size_negative",
         lambda w: analysis.analyze("standard-s0", batch_size=-1), ValueError,
         r"batch_size=-1 must be a positive integer"),
    _api("compare_the_same_network_twice",
         lambda w: analysis.compare(["standard-s0", "standard-s0"]), ValueError,
         r"compare names standard-s0 more than once"),
    _api("load_a_file", lambda w: ei_zoo.load(w / "plain" / "notes.txt"), FileNotFoundError,
         r"notes\.txt is a file, not an export folder"),
    _api("images_one_without_batch_axis", lambda w: check_images(IMAGES_OK[0]), ValueError,
         r"rank 3, .*add a batch axis: images\[None\]"),
    _api("images_wrong_dtype", lambda w: check_images(IMAGES_OK.astype("int32")), ValueError,
         r"dtype int32; pass float32 raw pixels 0-255 \(or uint8\)"),
    _api("images_out_of_range", lambda w: check_images(IMAGES_OK * 3),
         ValueError, r"values from 384 to 384; pass raw pixels in 0-255"),
    _api("images_negative", lambda w: check_images(IMAGES_OK - 200),
         ValueError, r"values from -72 to -72; pass raw pixels in 0-255"),
    _api("images_scaled_to_0_1", lambda w: check_images(IMAGES_OK / 255),
         ValueError, r"look scaled to 0-1; pass raw pixels 0-255 \(images \* 255\)"),
    _api("images_scaled_to_0_1_by_the_saved_model",
         lambda w: ei_zoo.load("standard-s0", format="saved_model").serve(IMAGES_OK / 255),
         ValueError, r"look scaled to 0-1"),
    _api("limit_smaller_than_batch", lambda w: TrainingConfig(limit=512, batch_size=600),
         ValueError, r"limit=512 is smaller than batch_size=600, so an epoch has no full batch"),
    _api("limit_above_the_training_set", lambda w: TrainingConfig(limit=60_000),
         ValueError, r"limit=60000 is more than the 50,000 CIFAR-10 training images"),
    _api("test_limit_above_the_test_set", lambda w: TrainingConfig(test_limit=10_001),
         ValueError, r"test_limit=10001 is more than the 10,000 CIFAR-10 test images"),
    _api("train_would_replace_a_shipped_network",
         lambda w: train_and_export("standard", TrainingConfig(epochs=1),
                                    out=w / "exported", work_dir=w / "runs"),
         ValueError, r"standard-s0 holds an export of another run \(test accuracy 12\.5%\); "
                     r"choose another --out, or pass --overwrite \(overwrite=True\)"),
    _api("compare_given_one_id_as_a_string", lambda w: analysis.compare("standard-s0"),
         ValueError, r"compare takes a non-empty list of model ids, .*got 'standard-s0'"),
    _api("load_given_none", lambda w: ei_zoo.load(None), ValueError,
         r"model must be a model id such as 'standard-s0' or an export folder, got None"),
    _api("activation_model_given_a_variant_name", lambda w: ei_zoo.activation_model("standard"),
         ValueError, r"expected an E/I network from ei_zoo.build_model or ei_zoo.load, got str"),
    _api("list_models_given_a_number", lambda w: ei_zoo.list_models(5), ValueError,
         r"exported must be a folder path, got 5"),
    _api("compare_given_an_empty_list", lambda w: analysis.compare([]),
         ValueError, r"compare takes a non-empty list of model ids"),
    _api("analyze_given_a_list", lambda w: analysis.analyze(["standard-s0"]),
         ValueError, r"model must be a model id such as 'standard-s0' or an export folder"),
    _api("analyze_with_an_unknown_reference",
         lambda w: analysis.analyze("standard-s0", reference="standard-s7"), FileNotFoundError,
         r"No model 'standard-s7' .*did you mean standard-s0\?"),
    _api("history_of_two_runs_at_once",
         lambda w: export_run(w / "runs" / "interleaved", out=w / "elsewhere"),
         ValueError, r"interleaved/history\.csv is damaged \(holds text in its numeric column "
                     r"'epoch'.*\); delete .*interleaved to train this run anew"),
    _api("images_nan", lambda w: check_images(np.where(IMAGES_OK > 0, np.nan, 0)), ValueError,
         r"contain 6144 NaN or infinite values; pass finite raw pixels"),
    _api("negative_epochs", lambda w: TrainingConfig(epochs=-3), ValueError,
         r"TrainingConfig\.epochs=-3 must be a positive integer"),
    _api("zero_batch_size", lambda w: TrainingConfig(batch_size=0), ValueError,
         r"TrainingConfig\.batch_size=0 must be a positive integer"),
    _api("zero_image_count", lambda w: TrainingConfig(limit=0), ValueError,
         r"TrainingConfig\.limit=0 must be a positive integer"),
    _api("nan_image_count", lambda w: data.train_dataset(limit=float("nan")), ValueError,
         r"limit=nan must be a positive integer"),
    _api("learning_rate_not_a_number", lambda w: TrainingConfig(learning_rate="fast"),
         ValueError, r"TrainingConfig\.learning_rate='fast' must be a finite number"),
    _api("negative_seed", lambda w: TrainingConfig(seed=-1), ValueError,
         r"TrainingConfig\.seed=-1 must be an integer from 0 to 2\*\*32 - 1"),
    _api("config_json_field_not_a_list", lambda w: NetworkConfig.from_json('{"pixel_mean": 5}'),
         ValueError, r"NetworkConfig\.pixel_mean=5 needs 3 numbers"),
    _api("config_json_field_not_a_number",
         lambda w: NetworkConfig.from_json('{"resting_drive": "high"}'), ValueError,
         r"NetworkConfig\.resting_drive='high' must be a finite number"),
    _api("config_json_field_not_a_bool",
         lambda w: NetworkConfig.from_json('{"signed_principal_output": "no"}'), ValueError,
         r"NetworkConfig\.signed_principal_output='no' must be true or false"),
    _api("config_json_missing_file", lambda w: NetworkConfig.from_json(w / "config.json"),
         FileNotFoundError, r"No config file at .*config\.json; pass a JSON string"),
    _api("variant_that_is_a_path", lambda w: ei_zoo.build_model("standard", variant="../evil"),
         ValueError, r"NetworkConfig\.variant='\.\./evil' must be a name usable as a folder"),
    _api("folder_not_an_export", lambda w: ei_zoo.load(w / "plain"), FileNotFoundError,
         r"plain is not an ei_zoo export .*; re-export it with export_model or re-download it"),
    _api("export_failing_its_sha256", lambda w: ei_zoo.load(w / "damaged" / "standard-s0"),
         ValueError, r"connectivity\.npz does not match its sha256 in metadata\.json; "
                     r"re-download or re-export it"),
    _api("folder_not_a_run", lambda w: export_run(w / "plain"), FileNotFoundError,
         r"plain is not a training run \(no run\.json\); pass the folder"),
    # The CLI: exit code 2 and one line on stderr.
    _cli("cli_unknown_subcommand", lambda w: ["frobnicate"],
         r"invalid choice: 'frobnicate' \(choose from .*'train'"),
    _cli("cli_unknown_option", lambda w: ["train", "--epochs", "1", "--frobnicate"],
         r"unrecognized arguments: --frobnicate"),
    _cli("cli_negative_epochs", lambda w: ["train", "--epochs", "-1"],
         r"argument --epochs: -1 must be at least 1"),
    _cli("cli_zero_batch_size", lambda w: ["train", "--batch-size", "0"],
         r"argument --batch-size: 0 must be at least 1"),
    _cli("cli_zero_image_count", lambda w: ["train", "--limit", "0"],
         r"argument --limit: 0 must be at least 1"),
    _cli("cli_learning_rate_nan", lambda w: ["train", "--learning-rate", "nan"],
         r"argument --learning-rate: nan must be positive"),
    _cli("cli_negative_seed", lambda w: ["train", "--seed", "-1", "--epochs", "1"],
         r"TrainingConfig\.seed=-1 must be an integer from 0 to 2\*\*32 - 1"),
    _cli("cli_batch_larger_than_the_images", lambda w: ["train", "--batch-size", "600",
                                                        "--limit", "512"],
         r"limit=512 is smaller than batch_size=600"),
    # From the repository's root, the default --out is the shipped zoo.
    _cli("cli_train_would_replace_a_shipped_network",
         lambda w: ["train", "--epochs", "1", "--limit", "512"],
         r"exported/standard-s0 holds an export of another run .*pass --overwrite"),
    # Issue 34 (#1): what is not this run's export is replaced only with --overwrite.
    _cli("cli_train_over_a_folder_that_is_not_an_export",
         lambda w: ["train", "--epochs", "1", "--limit", "256", "--test-limit", "256", "--out",
                    str(w / "mine"), "--work-dir", str(w / "runs")],
         r"mine/standard-s0 is a folder that holds no export; choose another --out, or pass "
         r"--overwrite"),
    _cli("cli_export_over_a_file",
         lambda w: ["export", str(w / "runs" / "interleaved"), "--out", str(w / "filed")],
         r"filed/standard-s0 is a file; choose another --out, or pass --overwrite"),
    # Issue 34 (#10, #11): analyze and reproduce replace only a folder they wrote.
    _cli("cli_analyze_into_a_folder_it_did_not_write",
         lambda w: ["analyze", "standard-s0", "--out", str(w / "mine")],
         r"--out .*mine/standard-s0 exists and is not an analysis folder of `ei-zoo analyze` "
         r"\(it has no valid \.ei_zoo_analysis\), which would be replaced whole; choose a new"),
    _cli("cli_reproduce_into_a_folder_it_did_not_write",
         lambda w: ["reproduce", "--out", str(w / "plain")],
         r"--out .*plain exists and is not a results folder of `ei-zoo reproduce`"),
    _cli("cli_analyze_with_an_unknown_reference",
         lambda w: ["analyze", "standard-s0", "--reference", "standard-s7"],
         r"No model 'standard-s7' .*did you mean standard-s0\?"),
    _cli("cli_index_of_no_folder", lambda w: ["index", "--exported", str(w / "nowhere")],
         r"nowhere is not a folder of exports; run this beside exported/"),
    _cli("cli_download_into_an_unwritable_cache",
         lambda w: ["download", "standard-s0", "--mirror", str(w / "plain"), "--cache-dir",
                    str(w / "plain" / "notes.txt" / "ei_zoo")],
         r"The download cache .*notes\.txt is a file, not a folder"),
    _cli("cli_reproduce_checked_against_no_results",
         lambda w: ["reproduce", "--check", str(w / "plain"), "--out", str(w / "results")],
         r"--check .*plain: no table\.csv there; pass a folder that `ei-zoo reproduce` wrote"),
    _cli("cli_export_of_two_runs_at_once",
         lambda w: ["export", str(w / "runs" / "interleaved"), "--out", str(w / "elsewhere")],
         r"history\.csv is damaged \(holds text in its numeric column 'epoch'"),
    _cli("cli_unknown_model_id", lambda w: ["info", "standard-s1"],
         r"No model 'standard-s1' .*did you mean standard-s0\?"),
    _cli("cli_folder_not_an_export", lambda w: ["info", str(w / "plain")],
         r"plain is not an ei_zoo export"),
    _cli("cli_export_failing_its_sha256", lambda w: ["info", str(w / "damaged" / "standard-s0")],
         r"connectivity\.npz does not match its sha256 in metadata\.json; re-download"),
    _cli("cli_folder_not_a_run", lambda w: ["export", str(w / "plain")],
         r"plain is not a training run \(no run\.json\)"),
    _cli("cli_torn_run_json", lambda w: ["export", str(w / "runs" / "torn")],
         r"run\.json is not valid JSON \(.*\); delete .*torn to start the run anew"),
    _cli("cli_run_json_bad_field", lambda w: ["export", str(w / "runs" / "bad_field")],
         r"run\.json holds a bad setting \(NetworkConfig\.principal='eight' must be a positive "
         r"integer\); delete"),
    _cli("cli_batch_size_huge", lambda w: ["train", "--batch-size", "99999999999", "--out",
                                           str(w / "elsewhere"), "--work-dir", str(w / "runs")],
         r"batch_size=99999999999 is more than the 50,000 CIFAR-10 training images"),
    _cli("cli_list_exported_a_file",
         lambda w: ["list", "--exported", str(w / "plain" / "notes.txt")],
         r"notes\.txt is not a folder of exports; pass --exported DIR"),
    _cli("cli_perturb_a_file", lambda w: ["perturb", str(w / "plain" / "notes.txt")],
         r"notes\.txt is a file, not an export folder"),
    _cli("cli_reproduce_check_is_out",
         lambda w: ["reproduce", "--out", str(w / "elsewhere"), "--check", str(w / "elsewhere")],
         r"--check .*elsewhere is --out"),
    _cli("cli_mirror_not_a_url",
         lambda w: ["download", "standard-s0", "--mirror", "http://[::1"],
         r"--mirror 'http://\[::1' is not a valid URL"),
    _cli("cli_no_mirror", lambda w: ["download", "standard-s0"],
         r"No mirror to download from; pass --mirror URL"),
    _cli("cli_unreachable_mirror",
         lambda w: ["download", "standard-s0", "--mirror", f"http://127.0.0.1:{_closed_port()}"],
         r"Could not download index\.json from http://127\.0\.0\.1:\d+/index\.json: .*refused; "
         r"check the mirror URL"),
    # Hostile mirrors (issue 34: #4, #5, #17): refused in one line, the cache left empty.
    _cli("cli_download_of_a_shipped_id_the_mirror_changed",
         lambda w: ["download", "standard-s0", "--mirror", _mirror(
             w, lambda folder: _rewrite_listed(folder, "README.md", b"# forged\n"), ship=True)],
         r"standard-s0\.tar\.gz is not the standard-s0 this project ships: its README\.md "
         r"differs from the one .*index\.json gives; do not use this mirror"),
    _cli("cli_download_of_a_file_its_metadata_does_not_list",
         lambda w: ["download", "standard-s0", "--mirror", _mirror(
             w, lambda folder: (folder / "extra.py").write_text("import os\n"))],
         r"standard-s0\.tar\.gz holds 'extra\.py', which its metadata\.json does not list; do "
         r"not use this mirror"),
    _cli("cli_download_of_an_archive_larger_than_its_index_says",
         lambda w: ["download", "standard-s0", "--mirror", _mirror(w, archive_bytes=1000)],
         r"standard-s0\.tar\.gz from file://\S+ is larger than 1,000 bytes, the size the "
         r"mirror's index\.json gives it; do not use this mirror"),
    _cli("cli_download_of_an_archive_claimed_above_the_cap",
         lambda w: ["download", "standard-s0", "--max-mb", "1", "--mirror", _mirror(
             w, archive_bytes=2_000_000)],
         r"gives 'standard-s0' an archive of 2,000,000 bytes, more than the 1,000,000 a "
         r"download may take; if you trust this mirror, allow more with `ei-zoo download "
         r"--max-mb MB`"),
    _cli("cli_download_timeout_zero", lambda w: ["download", "standard-s0", "--timeout", "0"],
         r"argument --timeout: 0\.0 must be positive"),
    _api("model_called_on_nan_images", lambda w: ei_zoo.load("standard-s0")(
        np.full((2, 32, 32, 3), np.nan, "float32")), ValueError,
         r"images contain 6144 NaN or infinite values; pass finite raw pixels 0-255"),
    # Forged or malformed metadata (issue 34: #6, #14): one line naming the file and field.
    _api("metadata_files_a_list", lambda w: ei_zoo.load(_forged(
        w, lambda m: m.update(files=list(m["files"])))), ValueError,
         r"metadata\.json: its field 'files' must be a JSON object, found list; re-download"),
    _api("metadata_files_a_string", lambda w: ei_zoo.load(_forged(
        w, lambda m: m.update(files="all"))), ValueError,
         r"its field 'files' must be a JSON object, found str"),
    _api("metadata_without_config", lambda w: ei_zoo.load(_forged(
        w, lambda m: m.pop("config"))), ValueError,
         r"its field 'config' must be a JSON object, found nothing"),
    _api("metadata_without_cell_types", lambda w: analysis.analyze(_forged(
        w, lambda m: m.pop("cell_types"))), ValueError,
         r"its field 'cell_types' must be a JSON object, found nothing"),
    _api("metadata_changed_under_its_index", lambda w: analysis.analyze(_forged(
        w, _renamed("no_dale"), indexed=True)), ValueError,
         r"standard-s0/metadata\.json does not match its sha256 in .*index\.json; "
         r"re-download or re-export it, or run `ei-zoo index`"),
    _api("metadata_variant_not_its_config", lambda w: ei_zoo.load(_forged(
        w, lambda m: m.update(variant="no_dale"))), ValueError,
         r"says variant 'no_dale' but its config 'standard'"),
    _api("metadata_sign_not_its_dale", lambda w: ei_zoo.load(_forged(
        w, lambda m: m["cell_types"]["area3"]["PN"].update(sign=-1))), ValueError,
         r"cell_types\.area3\.PN\.sign is -1, but standard gives 1"),
    _api("metadata_dale_against_its_weights", lambda w: ei_zoo.load(_forged(
        w, _as_dale("inh_pn", {"PN": -1, "IG": 1, "OG": 1}))), ValueError,
         r"connectivity\.npz: area3/PN->g has weights of the sign inh_pn forbids for PN"),
    _api("metadata_id_not_its_folder", lambda w: ei_zoo.load(_forged(
        w, lambda m: m.update(id="standard-s1"))), ValueError,
         r"gives the id 'standard-s1' to the folder standard-s0; the folder's name is the id"),
    _cli("cli_reproduce_with_forged_metadata", lambda w: [
        "reproduce", "--exported", str(_forged(w, _renamed("no_dale"), indexed=True).parent),
        "--out", str(w / "elsewhere")],
         r"metadata\.json does not match its sha256 in .*index\.json"),
    _cli("cli_model_id_that_is_a_path",
         lambda w: ["download", "../standard-s0", "--mirror", str(w / "plain")],
         r"'\.\./standard-s0' is not a model id; ids look like 'standard-s0'"),
]


# What a download writes to stderr before it is refused: progress, not errors.
DOWNLOAD_PROGRESS = re.compile(r"Downloading \S+|\S+: \d+/\d+ bytes")


def test_bad_input_table_is_large():
    assert len(BAD_INPUTS) >= 20
    assert len({case.name for case in BAD_INPUTS}) == len(BAD_INPUTS)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input_gets_one_line_naming_the_fix(case, workspace, capsys):
    if case.error != "cli":
        with pytest.raises(case.error) as raised:
            case.call(workspace)
        message = str(raised.value)
        assert "\n" not in message and re.search(case.message, message), message
        return
    try:
        code = cli_main(case.call(workspace))
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not DOWNLOAD_PROGRESS.fullmatch(line)]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and re.search(case.message, lines[0]), err
    assert entries(workspace / "keras") == []  # nothing was downloaded or cached
    assert not (workspace / "runs" / "standard-s0").exists()  # no run was started
    assert not (workspace / "elsewhere").exists()  # nothing was exported
    # The user's files are where they were, none hidden beside them.
    assert (workspace / "mine" / "standard-s0" / "notes.txt").read_text() == "mine"
    assert entries(workspace / "mine") == ["standard-s0"]
    assert entries(workspace / "filed") == ["standard-s0"]
    assert (workspace / "filed" / "standard-s0").read_text() == "a file"
    assert (workspace / "plain" / "notes.txt").read_text() == "not a model"


@pytest.mark.parametrize("hostile", ["../../X<img src=x onerror=alert(1)>", "/tmp/elsewhere",
                                     "a/b", "..", 5])
def test_an_id_that_is_not_an_id_is_refused_before_it_names_a_path(hostile, tiny_export,
                                                                   tmp_path, capsys):
    import json

    exported = tmp_path / "exported"
    folder = exported / "standard-s0"
    shutil.copytree(tiny_export, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, "id": hostile}))
    with pytest.raises(ValueError, match="which is not a model id"):
        ei_zoo.read_metadata(folder)
    site = tmp_path / "site" / "zoo"
    assert cli_main(["explore", "--zoo", "--exported", str(exported), "--out", str(site),
                     "--images", "20"]) == 2
    assert "is not a model id" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exported"]  # nothing written


@pytest.mark.parametrize("entry", [{"id": 5}, "x", None, {"id": "../up"}, {"variant": "s"}])
def test_an_index_entry_without_a_model_id_is_refused_in_one_line(entry, tmp_path):
    import json

    from ei_zoo.hub.index import read_index

    path = tmp_path / "index.json"
    path.write_text(json.dumps({"models": [entry]}))
    with pytest.raises(ValueError,
                       match=r"is not a model zoo index .*has no model id.*ei-zoo index"):
        read_index(path)
