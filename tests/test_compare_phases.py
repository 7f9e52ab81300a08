"""scripts/compare_phases.py: the share of grid cells whose phase agrees between two sweeps of one grid."""
import json

import pandas as pd
import pytest

from scripts.compare_phases import compare


def sweep_dir(path, phases):
    path.mkdir()
    (path / "plan.json").write_text(json.dumps({"grid_keys": ["a", "b"]}))
    pd.DataFrame({"a": [0, 0, 1, 1], "b": [0, 1, 0, 1], "phase": phases, "steps_to_generalise": [None, 5, 7, 9],
                  "final_test_acc": [0.1, 1.0, 1.0, 1.0]}).to_csv(path / "grid.csv", index=False)
    return path


def test_share_of_cells_with_the_same_phase(tmp_path):
    a = sweep_dir(tmp_path / "a", ["memorization", "grokking", "grokking", "comprehension"])
    b = sweep_dir(tmp_path / "b", ["memorization", "grokking", "comprehension", "comprehension"])
    both, share = compare(a, b)
    assert share == 0.75 and both["same"].tolist() == [True, True, False, True]


def test_different_grids_are_refused(tmp_path):
    a = sweep_dir(tmp_path / "a", ["memorization"] * 4)
    b = sweep_dir(tmp_path / "b", ["memorization"] * 4)
    pd.read_csv(b / "grid.csv").assign(b=[0, 2, 0, 2]).to_csv(b / "grid.csv", index=False)
    with pytest.raises(SystemExit):
        compare(a, b)
