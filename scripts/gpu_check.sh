#!/usr/bin/env bash
# Every GPU check of toylab in one command (planned for about 8 minutes on one H100/H200; each step is capped,
# 9.5 minutes at worst), one report:
#
#     bash scripts/gpu_check.sh OUT_DIR              # on the GPU machine, from the repository root
#     bash scripts/gpu_check.sh --dry-run OUT_DIR    # the same steps at tiny sizes on the CPU (tested in CI)
#
# Writes OUT_DIR/report.md and OUT_DIR/report.json (every step: command, exit status, seconds, output tail, and
# the JSON a bench wrote), plus each step's log. Steps: pytest -m gpu; bench_grokking (Nanda's preset, E in
# 1, 16, 64, 256, eager / compiled / CUDA graphs, and Lightning vs plain at E = 1); the MLP vs cuBLAS batched-matmul
# figure; bench_spectra on the GPU; a short Nanda fit; a 10 x 10 sweep of the main job's model at reduced steps.
# A step that fails or runs past its time limit is reported and the next one runs.
#
# Missing Python packages (the GPU image has torch, lightning, numpy, ... but not jsonargparse, pydantic or wandb)
# are installed from the wheel folder $TOYLAB_WHEELS (default: shared/wheels), made beforehand on a machine with
# network access and the GPU machine's Python version (--python-version 3.X --platform manylinux2014_x86_64 when
# that machine's Python differs):
#     pip download --only-binary=:all: -d shared/wheels jsonargparse==4.53.0 docstring_parser typeshed_client pydantic
# wandb is optional: without it every run logs locally (wandb.mode disabled).
set -u
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:?usage: gpu_check.sh [--dry-run] OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" WANDB_SILENT=true
PY=${PYTHON:-python}
WHEELS=${TOYLAB_WHEELS:-$ROOT/shared/wheels}

for pkg in jsonargparse pydantic wandb; do
  if ! $PY -c "import $pkg" 2>/dev/null; then
    if ls "$WHEELS"/${pkg}-*.whl >/dev/null 2>&1; then
      $PY -m pip install -q --no-index --find-links "$WHEELS" "$pkg" || echo "gpu_check: could not install $pkg"
    else
      echo "gpu_check: $pkg is missing and $WHEELS has no wheel of it"
    fi
  fi
done
$PY -c "import wandb" 2>/dev/null || export WANDB_MODE=disabled

if [ $DRY = 1 ]; then  # tiny sizes on the CPU: every step's command line is exercised, nothing is measured
  DEV=cpu; E_LIST=1,2; MODES=eager; BENCH_STEPS=3; MLP_ARGS="--members 2 --width 16 --rows 32 --d-in 16 --steps 2"
  SPECTRA_ARGS="--quick --esd-only --repeat 1 --threads 1"
  FIT_ARGS="--task.p 7 --model.d_model 8 --model.d_mlp 16 --model.n_heads 2 --model.d_head 4 --train.max_steps 5"
  FIT_ARGS="$FIT_ARGS --train.snapshot_members [] --seeds [0]"
  GRID_N=2; SWEEP_STEPS=5; LIMIT=120
else
  DEV=cuda; E_LIST=1,16,64,256; MODES=eager,compiled,cuda_graphs; BENCH_STEPS=100; MLP_ARGS=""
  SPECTRA_ARGS="--repeat 2"
  FIT_ARGS="--train.max_steps 1500"
  GRID_N=10; SWEEP_STEPS=1000; LIMIT=0
fi

STEPS_JSON="$OUT/steps.jsonl"
: > "$STEPS_JSON"
ONLY=${GPU_CHECK_ONLY:-}  # comma-separated step names: run only those (the CI test's quick subset)
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, record
  local name=$1 limit=$2; shift 2
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then return; fi
  [ "$LIMIT" != 0 ] && limit=$LIMIT
  local t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local t1=$(date +%s.%N)
  $PY - "$name" "$rc" "$t0" "$t1" "$OUT/$name.log" "$STEPS_JSON" "$*" <<'EOF'
import json, sys
name, rc, t0, t1, log, out, cmd = sys.argv[1:]
tail = open(log, errors="replace").read()[-3000:]
with open(out, "a") as f:
    f.write(json.dumps({"name": name, "rc": int(rc), "seconds": round(float(t1) - float(t0), 1),
                        "command": cmd, "tail": tail}) + "\n")
EOF
  echo "gpu_check: $name rc=$rc ($(awk "BEGIN{printf \"%.0f\", $t1 - $t0}") s)"
}

step pytest_gpu 90 $PY -m pytest -q -m gpu -p no:cacheprovider tests
step bench_grokking 240 $PY scripts/bench_grokking.py --device $DEV --preset $([ $DRY = 1 ] && echo cpu || echo nanda) \
  --members $E_LIST --modes $MODES --steps $BENCH_STEPS --json "$OUT/bench_grokking.json"
step mlp_vs_bmm 45 $PY scripts/bench_mlp_gemm.py --device $DEV $MLP_ARGS --json "$OUT/mlp_vs_bmm.json"
step bench_spectra 45 $PY scripts/bench_spectra.py $SPECTRA_ARGS
step nanda_fit 60 $PY -m trainers.cli fit --config configs/grokking/nanda.yaml --out_dir "$OUT/runs" \
  --train.device $DEV --train.progress none $FIT_ARGS
$PY - "$GRID_N" "$SWEEP_STEPS" "$DEV" "$OUT/sweep.yaml" <<'EOF'
import sys, yaml
n, steps, dev, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = yaml.safe_load(open("configs/phase/quick.yaml"))
cfg["name"] = f"gpu-check-{n}x{n}"
cfg["train"].update({"max_steps": steps, "device": dev, "checkpoint_every": steps})
cfg["sweep"]["grid"] = {"task.train_fraction": [round(0.2 + 0.5 * i / max(n - 1, 1), 3) for i in range(n)],
                        "optimizer.weight_decay": [round(0.01 * 300 ** (i / max(n - 1, 1)), 4) for i in range(n)]}
yaml.safe_dump(cfg, open(path, "w"), sort_keys=False)
EOF
step sweep_${GRID_N}x${GRID_N} 90 $PY -m trainers.cli sweep --config "$OUT/sweep.yaml" --out_dir "$OUT/runs"

$PY - "$OUT" "$DRY" <<'EOF'
import json, platform, sys, time
from pathlib import Path
import torch
out, dry = Path(sys.argv[1]), sys.argv[2] == "1"
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
for s in steps:
    bench = out / f"{s['name']}.json"
    if bench.exists():
        s["results"] = json.loads(bench.read_text())
device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": device, "dry_run": dry,
          "torch": torch.__version__, "steps": steps}
(out / "report.json").write_text(json.dumps(report, indent=1))
lines = [f"# toylab GPU check{' (CPU dry run)' if dry else ''}", "",
         f"{report['date']}; {device}; torch {torch.__version__}", "",
         "| step | exit | seconds |", "|---|---|---|"]
lines += [f"| {s['name']} | {s['rc']} | {s['seconds']} |" for s in steps]
for s in steps:
    lines += ["", f"## {s['name']}", "", f"`{s['command']}`", "", "```", s["tail"].strip()[-1500:], "```"]
(out / "report.md").write_text("\n".join(lines) + "\n")
print(f"gpu_check: report in {out / 'report.md'}; {sum(s['rc'] != 0 for s in steps)} step(s) failed")
EOF
