"""Fixtures of the random-feature scaling tests."""
import pytest

from tests.scaling.helpers import ROOT
from trainers.cli import main


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """configs/scaling/cpu_small.yaml through ``toylab fit`` once per session: its run directory."""
    out = tmp_path_factory.mktemp("small")
    assert main(["fit", "--config", str(ROOT / "configs/scaling/cpu_small.yaml"), "--out_dir", str(out)]) == 0
    return next(out.iterdir())
