"""The benchmark entry point runs and reports what the issue asks for.

Only that it works: tiny networks and sizes, so no figure here means
anything and nothing is asserted about speed.
"""

import json
import math
import os
import subprocess
import sys
import time

from conftest import REPO

HEADLINES = ("train_ratio_vs_convlstm2d", "train_ratio_vs_convlstm2d_fastest",
             "train_utilization", "bf16_speedup", "analysis_ratio_vs_forward",
             "pipeline_ratio_vs_train")


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def test_run_quick_tiny(cifar_dir, tmp_path):
    env = dict(os.environ, TFDS_DATA_DIR=cifar_dir, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = tmp_path / "latest.json"
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--tiny",
         "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"benchmarks/run.py --quick --tiny took {time.monotonic() - start:.0f} s")

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == json.loads(out.read_text())
    assert report["mode"] == "tiny"
    for key in HEADLINES:
        assert _positive(report[key]), (key, report[key])
        assert set(report["targets"][key]) == {"measured", "target", "met"}
    for precision in ("float32", "mixed_bfloat16"):
        figures = report["train"]["precisions"][precision]
        assert _positive(figures["standard_images_per_second"])
        assert _positive(figures["convlstm2d_images_per_second"])
        assert _positive(figures["recurrent_convolution_gflops"])
        assert math.isclose(figures["utilization"], figures["standard_useful_gflops"]
                            / figures["recurrent_convolution_gflops"], rel_tol=0.05)
    for kind in ("serve", "activations", "analyze"):
        assert _positive(report["analysis"][f"{kind}_images_per_second"])
        assert all(_positive(mib) for mib in report["analysis"]["peak_rss_mib"][kind].values())
    assert _positive(report["pipeline"]["images_per_second"])
    epoch_seconds = report["ratio_sweep"]["epoch_seconds"]
    assert epoch_seconds and all(_positive(s) for s in epoch_seconds.values())
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["tensorflow"] and machine["keras"]
    # Tiny figures are meaningless: they never become paper_zoo.py's estimates.
    assert not (tmp_path / "epoch_seconds.json").exists()


def test_profile_step_tiny(tmp_path):
    """The op-level profile runs and accounts for every op it traced."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "profile_step.py"), "--tiny",
         "--precision", "mixed_bfloat16"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    profile = report["precisions"]["mixed_bfloat16"]
    stacked = "area 3 recurrent convolution, steps 2-T stacked along the batch, gradient to kernel"
    assert all(_positive(report["kernels_alone"][f"{stacked}, {dtype}"])
               for dtype in ("float32", "bfloat16"))
    assert set(report["machine"]["cpu_features"]) <= {
        "avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"}
    for heading in ("by_category", "by_part"):
        shares = profile[heading]
        assert math.isclose(sum(v["ms"] for v in shares.values()), profile["op_ms"], rel_tol=0.01)
    assert profile["by_category"]["convolution / matmul"]["ms"] > 0
    assert {"area3", "area4"} <= profile["by_part"].keys()
    assert "| kind of op |" in result.stdout


def _run_tiny(script, cifar_dir, tmp_path):
    env = dict(os.environ, TFDS_DATA_DIR=cifar_dir, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--tiny"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(tmp_path.iterdir())  # it writes nothing
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_rsa_speed_tiny(cifar_dir, tmp_path):
    """RSA's timing runs: every network's RDM at every step, all compared."""
    report = _run_tiny("rsa_speed.py", cifar_dir, tmp_path)
    assert report["mode"] == "tiny" and report["networks"] == ["standard-s0", "standard-s1"]
    assert report["rdms"] == 2 * 2 and report["similarity_shape"] == [4, 4]  # tiny: T = 2
    for key in ("forward_seconds", "rdms_seconds", "compare_seconds", "peak_rss_mib"):
        assert _positive(report[key]), (key, report[key])


def test_extract_speed_tiny(cifar_dir, tmp_path):
    """extract's timing and memory run at each size and reduction, each in its process."""
    report = _run_tiny("extract_speed.py", cifar_dir, tmp_path)
    sizes = [str(n) for n in report["images"]]
    assert report["mode"] == "tiny" and len(sizes) == 2
    for reduce in ("mean_space", "none"):
        runs = report["runs"][reduce]
        assert sorted(runs, key=int) == sizes
        for run in runs.values():
            assert all(_positive(run[key]) for key in
                       ("seconds", "traced_peak_mib", "peak_rss_mib", "images_mib"))
        assert report["traced_growth_mib"][reduce] == round(
            runs[sizes[1]]["traced_peak_mib"] - runs[sizes[0]]["traced_peak_mib"], 1)
    # Every position kept: the result is H x W times the spatial mean's.
    assert report["runs"]["none"][sizes[1]]["result_mib"] > report["runs"]["mean_space"][
        sizes[1]]["result_mib"]


def test_perturb_speed_tiny(cifar_dir, tmp_path):
    """The perturbation's timing runs: every pass it needs, against serve's."""
    report = _run_tiny("perturb_speed.py", cifar_dir, tmp_path)
    assert report["mode"] == "tiny" and report["passes"] == 2 + 2 * 3 * 3
    assert report["rows"] == (1 + 2 * 3 * 3) * 11
    for key in ("serve_seconds", "perturbation_seconds", "perturbation_ratio_vs_serve_passes"):
        assert _positive(report[key]), (key, report[key])
    assert math.isclose(report["perturbation_ratio_vs_serve_passes"],
                        report["perturbation_seconds"]
                        / (report["passes"] * report["serve_seconds"]), rel_tol=0.01)
