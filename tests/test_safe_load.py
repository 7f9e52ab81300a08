"""Loading a file never runs code: every torch-file load path refuses crafted pickles (no marker file appears) with
one line naming the file and what was expected (exit 2 from the CLIs and scripts, ``LoadError`` from the library),
and so do text, empty, truncated and corrupt files."""
import ast
import os
import pickle
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from toymodels.errors import ConfigError, LoadError
from toymodels.models import single
from trainers.cli import main as toylab
from trainers.rundir import load_checkpoint, load_snapshot

ROOT = Path(__file__).resolve().parents[1]
CFG = ["--name", "safe", "--seeds", "[0, 1]", "--task.p", "7", "--task.train_fraction", "0.5",
       "--model.name", "mlp", "--model.width", "8", "--model.depth", "2", "--train.max_steps", "4",
       "--train.eval_every", "2", "--train.progress", "none", "--train.device", "cpu", "--train.threads", "1",
       "--train.snapshot_members", "[0]", "--probes.spectra", "true", "--probes.points", "3", "--wandb.mode", "disabled"]


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Exec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


class _Touch:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


def crafted_files(d: Path, marker: Path) -> dict[str, Path]:
    """Files whose unpickling would create ``marker``, in every container torch reads, plus broken files."""
    d.mkdir(parents=True, exist_ok=True)
    w = {"model.layers.0.weight": torch.zeros(2, 8, 8)}
    out = {}
    for name, payload in {"system": _System(marker), "exec": _Exec(marker), "touch": _Touch(marker)}.items():
        out[f"zip_{name}"] = d / f"zip_{name}.pt"
        torch.save({"state_dict": w, "global_step": 3, "x": payload}, out[f"zip_{name}"])
    out["legacy_system"] = d / "legacy.pt"
    torch.save({"state_dict": w, "x": _System(marker)}, out["legacy_system"], _use_new_zipfile_serialization=False)
    out["raw_pickle"] = d / "raw.pt"
    out["raw_pickle"].write_bytes(pickle.dumps({"state_dict": w, "x": _Exec(marker)}, protocol=4))
    out["nested"] = d / "nested.pt"  # the payload deep inside an otherwise plain state dict
    torch.save({"state_dict": {**w, "extra": [{"a": _Touch(marker)}]}, "global_step": 1}, out["nested"])
    out["text"] = d / "text.pt"
    out["text"].write_text("hello, this is not a checkpoint\n")
    out["empty"] = d / "empty.pt"
    out["empty"].write_bytes(b"")
    good = d / "good.pt"
    torch.save({"state_dict": w, "global_step": 3}, good)
    out["truncated"] = d / "truncated.pt"
    out["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out["random"] = d / "random.pt"
    out["random"].write_bytes(bytes(range(256)) * 4)
    out["other_zip"] = d / "other.pt"
    with zipfile.ZipFile(out["other_zip"], "w") as z:
        z.writestr("readme.txt", "a zip, but not a torch file")
    out["list"] = d / "list.pt"  # loads fine (plain data) but is not what any path expects
    torch.save([1, 2, 3], out["list"])
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert toylab(["fit", *CFG, "--out_dir", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.fixture
def bad(tmp_path):
    marker = tmp_path / "MARKER"
    return marker, crafted_files(tmp_path / "files", marker)


def one_line_error(err: str, prefix: str, path: Path):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix) and str(path) in lines[0], err
    assert "cannot load as" in lines[0] or "holds no state dict" in lines[0], err


def test_library_loaders_refuse_every_crafted_file(bad, run_dir):
    marker, files = bad
    for name, path in files.items():
        for load in (single.load, load_checkpoint, load_snapshot):
            with pytest.raises(LoadError) as info:
                load(path)
            msg = str(info.value)
            assert str(path) in msg and "cannot load as" in msg and "\n" not in msg, (name, msg)
            assert isinstance(info.value, ConfigError)
    assert not marker.exists()
    for name in ("zip_system", "zip_exec", "zip_touch", "legacy_system", "nested"):
        with pytest.raises(LoadError, match="would run code"):
            load_checkpoint(files[name])
    with pytest.raises(LoadError, match="text file"):
        load_checkpoint(files["text"])
    with pytest.raises(LoadError, match="truncated or corrupt"):
        load_checkpoint(files["truncated"])
    with pytest.raises(LoadError, match="empty"):
        load_checkpoint(files["empty"])
    with pytest.raises(LoadError, match="no such file"):
        single.load(files["text"].with_name("missing.pt"))
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 4  # a genuine one loads


def test_spectra_cli_refuses_every_crafted_file(bad, capsys):
    marker, files = bad
    for name, path in files.items():
        for suffix in (".pt", ".ckpt", ".bin"):
            target = path.with_suffix(suffix)
            if target != path:
                shutil.copy(path, target)
            with warnings.catch_warnings(record=True) as seen:  # no torch warning lines before the error
                warnings.simplefilter("always")
                assert toylab(["spectra", str(target)]) == 2, name
            assert not seen, [str(w.message) for w in seen]
            one_line_error(capsys.readouterr().err, "toylab spectra: error:", target)
    assert not marker.exists()


def test_run_directory_paths_refuse_a_crafted_checkpoint(bad, run_dir, tmp_path, capsys):
    marker, files = bad
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    ckpt = run / "checkpoints" / "last.ckpt"
    for name in ("zip_system", "zip_exec", "legacy_system", "nested", "text", "truncated"):
        shutil.copy(files[name], ckpt)
        assert toylab(["spectra", str(run)]) == 2
        one_line_error(capsys.readouterr().err, "toylab spectra: error:", ckpt)
        assert toylab(["export", str(run), "--member", "0"]) == 2
        one_line_error(capsys.readouterr().err, "toylab export: error:", ckpt)
        assert toylab(["fit", "--resume", str(run), "--train.max_steps", "4"]) == 2
        one_line_error(capsys.readouterr().err, "toylab fit: error:", ckpt)
    assert not marker.exists()


def test_scripts_refuse_crafted_snapshots_and_checkpoints(bad, run_dir, tmp_path, capsys):
    from scripts.gromov import main as gromov
    from scripts.representation import main as representation
    from scripts.spectra import main as spectra

    marker, files = bad
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    snaps = sorted((run / "snapshots").glob("step_*.pt"))
    assert snaps, "the fixture run snapshots member 0"
    for name in ("zip_system", "zip_touch", "raw_pickle", "truncated"):
        for s in snaps:
            shutil.copy(files[name], s)
        shutil.copy(files[name], run / "checkpoints" / "last.ckpt")
        for script, args in ((spectra, ["--esd", "0"]), (representation, ["--pca", "0"]), (gromov, [])):
            assert script([str(run), *args]) == 2, (script, name)
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and "cannot load as" in lines[0] and str(run) in lines[0], (script, name, lines)
    assert not marker.exists()


def test_resume_of_a_crafted_checkpoint_runs_no_code_in_a_fresh_process(bad, run_dir, tmp_path):
    """The real command line: Lightning's own loading on resume goes through the safe loader."""
    marker, files = bad
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "DONE").unlink()
    ckpt = run / "checkpoints" / "last.ckpt"
    shutil.copy(files["zip_system"], ckpt)
    p = subprocess.run([sys.executable, "-m", "trainers.cli", "fit", "--resume", str(run)], capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and str(ckpt) in p.stderr
    assert "Traceback" not in p.stderr and "would run code" in p.stderr
    assert not marker.exists()


def test_export_round_trips_as_torch_and_safetensors(run_dir, tmp_path, capsys):
    pytest.importorskip("safetensors")
    nets = []
    for name in ("m.pt", "m.safetensors"):
        assert toylab(["export", str(run_dir), "--member", "1", "--out", str(tmp_path / name)]) == 0
        nets.append(single.load(tmp_path / name))
    a, b = (n.state_dict() for n in nets)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sum(v.abs().sum() for v in a.values()) > 0  # trained weights, not zeros
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((tmp_path / "m.safetensors").read_bytes()[:100])
    with pytest.raises(LoadError, match="not a readable safetensors file"):
        single.load(broken)
    assert toylab(["spectra", str(broken)]) == 2
    one_line_error(capsys.readouterr().err, "toylab spectra: error:", broken)


def _unsafe_loads(tree: ast.AST) -> list[int]:
    """Lines of torch.load(...) calls without weights_only=True, and of any pickle.load / pickle.loads call."""
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
        if owner == "torch" and node.func.attr == "load":
            kw = {k.arg: k.value for k in node.keywords}
            w = kw.get("weights_only")
            if not (isinstance(w, ast.Constant) and w.value is True):
                bad.append(node.lineno)
        if owner == "pickle" and node.func.attr in ("load", "loads"):
            bad.append(node.lineno)
    return bad


def test_unsafe_load_detector_finds_unsafe_calls():
    src = "import torch, pickle\ntorch.load(p)\ntorch.load(p, weights_only=False)\ntorch.load(p, weights_only=True)\n" \
          "pickle.loads(b)\n"
    assert _unsafe_loads(ast.parse(src)) == [2, 3, 5]


def test_no_unsafe_load_anywhere_in_the_project():
    offenders = []
    for folder in ("toymodels", "trainers", "scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line in _unsafe_loads(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert not offenders, "torch.load without weights_only=True (or pickle.load): " + ", ".join(offenders)
