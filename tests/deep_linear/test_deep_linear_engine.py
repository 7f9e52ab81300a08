"""DeepLinearEngine beyond the linear teacher's equivalence: the power-law task (d_out = 1) against a plain
reference, resuming from a checkpoint, the data checksum, whitened rows, and the set-up errors."""
import pytest
import torch

from tests.deep_linear.reference import Reference
from toymodels.models.deep_linear import EnsembleDeepLinear
from toymodels.optim.sgd import EnsembleSGD
from toymodels.regression.deep_linear import DeepLinearEngine, build_deep_linear_data
from toymodels.tasks.linear_teacher import LinearTeacherTask
from toymodels.tasks.powerlaw import PowerLawTask, population_loss, sample_dataset

F64 = torch.float64
POWER = PowerLawTask(M=10, alpha=1.5, r=0.4, sigma=0.2)


def powerlaw_engine(P=(30, 17), seeds=(2, 5), lr=(0.2, 0.05), batch=None):
    model = EnsembleDeepLinear(2, POWER.M, 1, 3, [7, 4], "random").double()
    data = build_deep_linear_data(POWER, model, list(P), list(seeds), [s + 1 for s in seeds], list(seeds))
    model.reset_parameters(list(seeds), [0.7, 1.2])
    return DeepLinearEngine(model, data, EnsembleSGD(model.parameters(), 2, lr=list(lr)), batch_size=batch,
                            batch_seeds=torch.tensor([3, 8]))


@pytest.mark.parametrize("batch", [None, 6])
def test_powerlaw_task_member_equals_plain_pytorch(batch):
    eng = powerlaw_engine(batch=batch)
    refs = []
    for e, (P, seed, lr, bs) in enumerate(zip((30, 17), (2, 5), (0.2, 0.05), (3, 8))):
        X, y = sample_dataset(POWER, P, [seed], noise_seeds=[seed + 1])
        refs.append(Reference(list(eng.model.member_state(e).values()), lr, POWER.wbar[None, :], X[0], y[0][:, None],
                              batch_size=batch, batch_seed=bs))
    for step in range(30):
        losses = eng.train_step(step)
        for e, ref in enumerate(refs):
            expected = ref.step(step)
            assert abs(losses[e].item() - expected) <= 1e-10 * expected, (step, e)
    ev = eng.evaluate()
    for e, ref in enumerate(refs):
        with torch.no_grad():
            w = ref.net.product()[0]
            assert ev["test_loss"][e].item() == pytest.approx(
                population_loss(w, POWER.eta, POWER.wbar, POWER.sigma, include_noise=True).item(), rel=1e-10)
            assert ev["train_loss"][e].item() == pytest.approx(((ref.net(ref.X) - ref.Y) ** 2).mean().item(), rel=1e-10)
    # mode strengths of the power-law task: the end-to-end weights on the input eigendirections
    assert torch.allclose(eng.mode_strengths(), eng.model.product()[:, 0, :], rtol=1e-12)
    assert torch.allclose(eng.data.s, POWER.wbar.expand(2, -1))


def test_resume_from_a_checkpoint_is_exact():
    full = powerlaw_engine(batch=6)
    for step in range(20):
        full.train_step(step)
    first = powerlaw_engine(batch=6)
    for step in range(10):
        first.train_step(step)
    states = (first.model.state_dict(), first.optimizer.state_dict(), first.state_dict())
    resumed = powerlaw_engine(batch=6)
    resumed.model.load_state_dict(states[0])
    resumed.optimizer.load_state_dict(states[1])
    resumed.load_state_dict(states[2])
    for step in range(10, 20):
        resumed.train_step(step)
    for a, b in zip(full.model.weights, resumed.model.weights):
        assert torch.equal(a, b)
    other = powerlaw_engine(seeds=(2, 6))  # member 1's data differ: the checksum catches it
    with pytest.raises(ValueError, match="regenerated training data differ"):
        other.load_state_dict(states[2])


def test_whitened_rows_and_setup_errors():
    task = LinearTeacherTask(5, 3, (2.0, 0.5), noise_std=0.1)
    model = EnsembleDeepLinear(2, 5, 3, 2, [4, 6]).double()
    data = build_deep_linear_data(task, model, [12, 40], [0, 1], [0, 1], [0, 1], whiten=True)
    for e, P in enumerate((12, 40)):
        X = data.X[e, :P]
        assert torch.allclose(X.T @ X / P, torch.eye(5, dtype=F64), atol=1e-12)
    assert torch.allclose(data.s, torch.tensor([[2.0, 0.5, 0.0]] * 2, dtype=F64))  # padded with zero modes
    with pytest.raises(ValueError, match="train_size >= dim"):
        build_deep_linear_data(task, model, [4, 40], [0, 1], [0, 1], [0, 1], whiten=True)
    with pytest.raises(ValueError, match="full batch only"):
        pop = build_deep_linear_data(task, model, None, [0, 1], [0, 1], [0, 1])
        DeepLinearEngine(model, pop, EnsembleSGD(model.parameters(), 2, lr=0.1), batch_size=4)
    with pytest.raises(ValueError, match="the model maps"):
        build_deep_linear_data(POWER, model, None, [0, 1], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="singular_values"):
        LinearTeacherTask(5, 3, (1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="depth"):
        EnsembleDeepLinear(1, 5, 3, 1, [4])
