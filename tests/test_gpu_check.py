"""scripts/gpu_check.sh's CPU dry run: the steps run at tiny sizes and one report (markdown and JSON) records each
step's exit status. The quick test runs two steps; the slow one all of them."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(out: Path, only: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if only is not None:
        env["GPU_CHECK_ONLY"] = only
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "report.json").read_text())


def test_dry_run_reports_its_steps(tmp_path):
    report = dry_run(tmp_path, "mlp_vs_bmm,bench_spectra")
    assert report["dry_run"] is True
    assert [s["name"] for s in report["steps"]] == ["mlp_vs_bmm", "bench_spectra"]
    assert all(s["rc"] == 0 for s in report["steps"]), [s["tail"] for s in report["steps"]]
    mlp = report["steps"][0]["results"]["results"][0]
    assert mlp["E"] == 2 and mlp["engine_member_steps_per_s"] > 0 and mlp["bmm_tflops"] > 0
    md = (tmp_path / "report.md").read_text()
    assert "| mlp_vs_bmm | 0 |" in md and "(CPU dry run)" in md


@pytest.mark.slow
def test_full_dry_run(tmp_path):
    report = dry_run(tmp_path, None)
    names = [s["name"] for s in report["steps"]]
    assert names == ["pytest_gpu", "bench_grokking", "mlp_vs_bmm", "bench_spectra", "nanda_fit", "sweep_2x2"]
    assert all(s["rc"] == 0 for s in report["steps"]), {s["name"]: s["tail"][-500:] for s in report["steps"]}
    assert report["steps"][1]["results"]["ensemble"][0]["E"] == 1
    assert any((tmp_path / "runs").glob("gpu-check-2x2*/DONE"))
