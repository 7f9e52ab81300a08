"""The CPU allocator setting takes effect on Linux/glibc (its speed-up is measured by scripts/bench_allocator.py:
page-fault counts of a whole fit vary with glibc's adaptive thresholds, too much for a unit test)."""
import platform
import sys

import pytest

from trainers.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_glibc_accepts_the_settings():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # once per process; later calls report the same
