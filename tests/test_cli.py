import pytest

from ei_zoo.cli import main


def test_variants_lists_every_variant_with_its_size(capsys):
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    assert "ratio_4_1" in out and "393642" in out and "no_dale" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--variant", "standrad", "--epochs", "1"], "Did you mean standard"),
    (["train", "--data-dir", "/nonexistent/tfds", "--epochs", "1"], "TFDS_DATA_DIR"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ei_zoo.data._host_reachable", lambda *a, **k: False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "exported").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["frobnicate"],
                                  ["train", "--batch-size", "x"]])
def test_argument_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
