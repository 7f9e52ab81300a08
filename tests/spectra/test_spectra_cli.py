"""``toylab spectra``: file formats, ensemble run directories, output formats and one-line errors."""
import csv
import io
import json
import sys

import pytest
import torch

from toymodels.models.transformer import EnsembleTransformer
from trainers.spectra_cli import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, out, err, fragment):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toylab spectra: error: "), err
    assert fragment in lines[0] and "Traceback" not in err


@pytest.fixture
def run_dir(tmp_path):
    model = EnsembleTransformer(2, 23, 23, d_model=32, n_heads=2, d_head=16, d_mlp=64).reset_parameters([0, 1])
    sd = {"model." + k: v for k, v in model.state_dict().items()}
    sd["history"] = torch.zeros(4, 5, 2)  # a module buffer: not a model parameter, must be ignored
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": sd, "global_step": 3}, tmp_path / "run" / "checkpoints" / "last.ckpt")
    return tmp_path / "run", model


def test_run_directory_json(capsys, run_dir):
    path, model = run_dir
    code, out, err = _run(capsys, path, "--json", "--no-mp-fit")
    assert code == 0, err
    rows = json.loads(out)
    names = sorted({r["name"] for r in rows})
    # W_pos [E, 3, 32] has 3 eigenvalues (< min_evals 8): skipped; biases are 1-D per member: not matrices
    assert names == sorted(["W_E", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_U"])
    assert len(rows) == 8 * 2 and {r["member"] for r in rows} == {0, 1}
    by = {(r["name"], r["member"]): r for r in rows}
    # heads merged along the head dimension: W_Q [H, d_model, d_head] -> [d_model, H*d_head] = 32 x 32
    assert (by["W_Q", 0]["N"], by["W_Q", 0]["M"]) == (32, 32)
    assert (by["W_in", 1]["N"], by["W_in", 1]["M"]) == (64, 32)
    from toymodels.metrics.spectra import analyze
    W_Q = model.W_Q.detach()
    want = analyze({"W_Q": W_Q.permute(0, 2, 1, 3).reshape(2, 32, 32)}, mp_fit=False)["W_Q"]
    assert by["W_Q", 1]["alpha"] == pytest.approx(want["alpha"][1].item(), rel=1e-12)
    assert by["W_Q", 1]["rand_distance"] == pytest.approx(want["rand_distance"][1].item(), rel=1e-12)
    assert "mp_softrank" not in rows[0] and "sigma_mp" not in rows[0]


def test_run_directory_table_and_csv(capsys, run_dir):
    path, _ = run_dir
    code, out, err = _run(capsys, path, "--no-randomize")
    assert code == 0, err
    lines = out.splitlines()
    assert "2 members" in lines[0] and lines[1].split()[:5] == ["layer_id", "name", "member", "N", "M"]
    assert len(lines) == 2 + 16 + 1 and "W_pos" in lines[-1]
    code, out, err = _run(capsys, path, "--csv", "--no-randomize", "--no-mp-fit")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 16 and "detX_num" in rows[0] and "num_traps" not in rows[0]


def test_plain_state_dicts_in_every_format(capsys, tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(40, 30), torch.nn.Conv2d(4, 6, 3), torch.nn.LayerNorm(30))
    sd = net.state_dict()
    torch.save(sd, tmp_path / "m.pth")
    torch.save({"state_dict": {"net." + k: v for k, v in sd.items()}, "epoch": 1}, tmp_path / "m.ckpt")
    torch.save(net, tmp_path / "module.pt")  # a pickled module: refused by weights_only loading
    expect = {"0.weight": (40, 30, 1), "1.weight": (6, 4, 9)}
    for f in ("m.pth", "m.ckpt"):
        code, out, err = _run(capsys, tmp_path / f, "--json", "--no-mp-fit", "--no-randomize")
        assert code == 0, err
        rows = json.loads(out)
        got = {r["name"].removeprefix("net."): (r["N"], r["M"], r["rf"]) for r in rows}
        assert got == expect, f
    code, out, err = _run(capsys, tmp_path / "module.pt")
    _assert_one_line_error(code, out, err, "cannot load")
    st = pytest.importorskip("safetensors.torch")
    st.save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "m.safetensors"))
    code, out, err = _run(capsys, tmp_path / "m.safetensors", "--json", "--no-mp-fit", "--no-randomize")
    assert code == 0, err
    assert {r["name"]: (r["N"], r["M"], r["rf"]) for r in json.loads(out)} == expect


def test_ensemble_padding_is_stripped_per_member(capsys, tmp_path):
    W = torch.randn(2, 20, 10, dtype=torch.float64)
    W[1, 14:] = 0
    W[1, :, 6:] = 0
    torch.save({"model.layer": W}, tmp_path / "pad.pt")
    code, out, err = _run(capsys, tmp_path / "pad.pt", "--ensemble", "--json", "--no-mp-fit")
    assert code == 0, err
    assert [(r["N"], r["M"]) for r in json.loads(out)] == [(20, 10), (14, 6)]
    code, out, err = _run(capsys, tmp_path / "pad.pt", "--ensemble", "--json", "--keep-padding", "--no-mp-fit")
    assert [(r["N"], r["M"]) for r in json.loads(out)] == [(20, 10), (20, 10)]


def test_errors_are_one_line(capsys, tmp_path, monkeypatch):
    _assert_one_line_error(*_run(capsys, tmp_path / "missing.pt"), "does not exist")
    (tmp_path / "notes.txt").write_text("hello")
    _assert_one_line_error(*_run(capsys, tmp_path / "notes.txt"), "unsupported file type")
    (tmp_path / "empty_run").mkdir()
    _assert_one_line_error(*_run(capsys, tmp_path / "empty_run"), "not a toylab run directory")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    _assert_one_line_error(*_run(capsys, tmp_path / "junk.pt"), "cannot load")
    torch.save({"bias": torch.zeros(4)}, tmp_path / "biases.pt")
    _assert_one_line_error(*_run(capsys, tmp_path / "biases.pt"), "no weight matrices")
    _assert_one_line_error(*_run(capsys, tmp_path / "biases.pt", "--frobnicate"), "unrecognized arguments")
    _assert_one_line_error(*_run(capsys, tmp_path / "biases.pt", "--json", "--csv"), "not allowed with")
    _assert_one_line_error(*_run(capsys), "required")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    (tmp_path / "x.safetensors").write_bytes(b"")
    _assert_one_line_error(*_run(capsys, tmp_path / "x.safetensors"), "safetensors package, which is not installed")


def test_help(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "--json" in out and "toylab spectra" in out


def test_weight_snapshot_rows_carry_the_run_member_numbers(capsys, tmp_path, run_dir):
    """A snapshot file ({member: state dict}, as snapshots/step_*.pt) reads as an ensemble of its members, each row
    labelled with the member's number in the run and equal to that member's row of the run's checkpoint."""
    path, model = run_dir
    snap = tmp_path / "step_00000003.pt"
    torch.save({1: {k: v.clone() for k, v in model.member_state(1).items()}}, snap)
    code, out, err = _run(capsys, snap, "--json", "--no-mp-fit")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["member"] for r in rows} == {1} and len(rows) == 8
    code, out, err = _run(capsys, path, "--json", "--no-mp-fit")
    full = {(r["name"], r["member"]): r for r in json.loads(out)}
    for r in rows:  # TransformerLens names in the snapshot (embed.W_E, blocks.0.attn.W_Q, ...)
        name = r["name"].split(".")[-1]
        assert name in ("W_E", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_U")
        assert r["alpha"] == pytest.approx(full[name, 1]["alpha"], rel=1e-12), r["name"]
