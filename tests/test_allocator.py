"""The CPU allocator setting: large per-step buffers are reused instead of faulted in again every step."""
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from trainers.allocator import keep_freed_memory
    assert keep_freed_memory()
x = torch.ones(2048, 2048)
for _ in range(3):  # warm up
    (x * 2).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a 16 MiB temporary each time, freed at once
    (x * 2).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_buffers_are_reused_without_page_faults():
    def faults(mode):
        out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    default, kept = faults("default"), faults("keep")
    assert default > 5000  # glibc hands the 16 MiB blocks back to the kernel and faults them in again
    assert kept < default / 10, (default, kept)
