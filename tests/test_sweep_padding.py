"""Compiled sweeps give every chunk of a group the same number of members: a short last chunk runs copies of its
last member (static shapes), which the sweep's results leave out."""
import csv
from pathlib import Path

import yaml

from toymodels.engines.base import EnsembleEngine
from trainers.cli import main
from trainers.sweeps.plan import make_plan
from trainers.typed import config_from_dict

CFG = {
    "name": "pad", "seeds": [0],
    "task": {"operation": "a+b", "p": 7, "train_fraction": 0.6},
    "model": {"name": "mlp", "width": 8, "depth": 2},
    "train": {"max_steps": 10, "eval_every": 5, "progress": "none", "device": "cpu", "compile": True},
    "wandb": {"mode": "disabled"},
    "sweep": {"grid": {"optimizer.weight_decay": [0.0, 0.5, 1.0]}, "max_members": 2},
}


def test_plan_pads_the_last_chunk_only_when_compiled():
    plan = make_plan(config_from_dict(CFG))
    assert [len(c.members) for c in plan.chunks] == [2, 1]
    assert [len(c.overrides) for c in plan.chunks] == [2, 2]
    assert plan.chunks[1].overrides[1] == plan.chunks[1].overrides[0]
    eager = make_plan(config_from_dict({**CFG, "train": {**CFG["train"], "compile": False}}))
    assert [len(c.overrides) for c in eager.chunks] == [2, 1]


def test_padding_members_are_not_results(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(EnsembleEngine, "compile", lambda self, **options: self)  # the padding, not the compiler
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(CFG))
    assert main(["sweep", "--config", str(path), "--out_dir", str(tmp_path / "runs")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    members = list(csv.DictReader(open(run / "members.csv")))
    assert [float(m["optimizer.weight_decay"]) for m in members] == [0.0, 0.5, 1.0]
    last = list(csv.DictReader(open(run / "chunks" / "chunk_001" / "members.csv")))
    assert len(last) == 2 and last[0]["final_test_acc"] == last[1]["final_test_acc"]  # the copy ran the same fit
