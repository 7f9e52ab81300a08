"""GPU checks (skipped without CUDA): the ensemble on the GPU follows the CPU trajectory, and a fit runs there."""
import pytest
import torch

from tests.test_equivalence import MIXED, SMALL
from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.members import expand, with_settings

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_cuda_follows_cpu_in_float64(kind):
    cfg = with_settings(RunConfig(), {**SMALL[kind], "train.precision": "64", "train.batch_size": 6})
    cfg.members = MIXED
    cpu = build_engine(cfg, expand(cfg), torch.device("cpu"))
    gpu = build_engine(cfg, expand(cfg), torch.device("cuda"))
    for s in range(50):
        cpu.train_step(s)
        gpu.train_step(s)
    for e in range(len(MIXED)):
        for k, v in cpu.model.member_state(e).items():
            assert torch.allclose(v, gpu.model.member_state(e)[k].cpu(), rtol=0, atol=1e-9), k


def test_fit_on_cuda(tmp_path, capsys):
    from pathlib import Path

    from trainers.cli import main

    code = main(["fit", "--config", "configs/grokking/quick.yaml", "--out_dir", str(tmp_path), "--train.device",
                 "cuda", "--train.max_steps", "100", "--wandb.mode", "disabled", "--train.progress", "none"])
    assert code == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (run / "DONE").exists()
