"""train.precision bf16: float32 parameters and optimiser state, the forward under bfloat16 autocast (training and
evaluation); the losses stay float32 and close to the float32 run's at the start."""
import torch

from trainers.build import build_engine
from trainers.config import RunConfig
from trainers.fitting import configure_engine
from trainers.members import expand, with_settings


def engine(precision: str, model: str = "mlp"):
    sizes = {"model.d_model": 16, "model.d_mlp": 32, "model.n_heads": 2, "model.d_head": 8} \
        if model == "transformer" else {"model.width": 16}
    cfg = with_settings(RunConfig(), {"task.p": 7, "model.name": model, **sizes, "train.device": "cpu",
                                      "train.precision": precision})
    cfg.seeds = [0, 1]
    device = torch.device("cpu")
    return configure_engine(build_engine(cfg, expand(cfg), device), cfg, device)


def test_bf16_autocasts_the_forward_and_keeps_float32_state():
    for model in ("mlp", "transformer"):
        bf, f32 = engine("bf16", model), engine("32", model)
        assert bf.autocast_dtype == torch.bfloat16 and f32.autocast_dtype is None
        x, _, _ = bf.batch(0)
        with torch.no_grad():
            with bf.autocast():
                out_bf = bf.model(x)
            out_32 = bf.model(x)
        assert (out_bf.float() - out_32).abs().max() > 1e-5  # the matmuls ran in bfloat16
        torch.testing.assert_close(out_bf.float(), out_32, rtol=0, atol=3e-2 * out_32.abs().max().item())
        loss_bf, loss_f32 = bf.train_step(0), f32.train_step(0)
        assert loss_bf.dtype == torch.float32
        assert not torch.equal(loss_bf, loss_f32)  # bf16 matmuls round differently...
        torch.testing.assert_close(loss_bf, loss_f32, rtol=2e-2, atol=0)  # ...by bf16's 8 bits, no more
        assert all(p.dtype == torch.float32 for p in bf.model.parameters())
        assert all(s["exp_avg"].dtype == torch.float32 for s in bf.optimizer.state.values())
        assert all(v.dtype == torch.float64 for v in bf.evaluate().values())
