"""scripts/bench_main_job.py runs every part at a tiny size and prints its side-by-side lines (no timing is
asserted: speed claims live in the benchmark's output, not in tests)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_part_prints_its_ratio():
    proc = subprocess.run([sys.executable, "scripts/bench_main_job.py", "--steps", "4", "--repeats", "1",
                           "--blocks", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for line in ("end to end: toylab", "per member-step at E = 20", "model forward + backward at E = 20",
                 "FLOP/s (sgemm"):
        assert line in out, out
    assert "-> toylab is" in out and "x the plain script" in out
