"""``toylab theory ridge|rf|gd [options] [--json]``: closed-form predictions for the power-law regression task.

The task (``toymodels.tasks.powerlaw``): M dims, spectrum k^-alpha, source r (or --a/--b: k^-b spectrum, target
power k^-a), label noise --sigma. Every option that takes a list (comma-separated, e.g. ``--P 100,200,400``) spans
the Cartesian grid of all such lists; each grid point is one row.

  ridge  --P --lam                      ridge deterministic equivalent (kappa, gamma, E_g, E_tr, bias/variance)
  rf     --N --P --lam [--activation]   random-feature ridge (k2, k1, Df1, Df2, l, g1, E_g, E_tr, split);
                                        relu/tanh/erf use Gaussian equivalence (centred features)
  gd     --P --lr --t [--N] [--flow]    expected test loss of full-batch GD from zero at each time in --t
                                        (finite-N, P contour theory), plus the N, P -> infinity curve

Output: a table, or with --json one object {"command", "task", "points": [...]} (non-finite numbers -> null).
E_g is the excess test error against a clean label; test_loss = E_g + sigma^2. At the ridgeless interpolation
peak (lambda = 0 and P = M for ridge, N = P for rf, sigma > 0) E_g diverges and prints as "-" (null). Values must
be finite (``--lam inf``: the limit is the zero predictor, E_g = the target power, named in the error); negative
values may be written ``--lam -1e-3`` or ``--lam=-1e-3`` and get a "must be >= 0" message. Bad input: one line
"toylab theory: error: <key>: <message>" on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys

import torch

from toymodels.errors import ConfigError

PROG = "toylab theory"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise ConfigError("theory.args", message)


def _floats(text, key: str) -> list[float] | None:
    """Comma-separated finite numbers -> list (None stays None)."""
    if text is None:
        return None
    out = []
    for item in str(text).split(","):
        try:
            out.append(float(item))
        except ValueError:
            raise ConfigError(f"theory.{key}", f"not a number: {item.strip()!r}") from None
        if not math.isfinite(out[-1]):
            raise ConfigError(f"theory.{key}", f"must be a finite number (got {item.strip()})")
    return out


_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _join_negative(argv: list[str]) -> list[str]:
    """``--lam -1e-3`` -> ``--lam=-1e-3``: argparse would read a value starting with "-" as an option."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" not in a and i + 1 < len(argv) and _NUMBER.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def _check_lam_finite(text: str | None, task) -> None:
    """lambda = inf is the zero predictor: say so (with its E_g, the target power) instead of printing nulls."""
    if text is None:
        return
    for item in str(text).split(","):
        try:
            v = float(item)
        except ValueError:
            return  # _floats names the bad item
        if math.isinf(v) and v > 0:
            power = float((task.eta * task.wbar ** 2).sum())
            raise ConfigError("theory.lambda", f"must be finite; as lambda -> inf the predictor -> 0 and E_g -> "
                                               f"the target power sum_k eta_k wbar_k^2 = {power:.6g}")


_LISTS = {"sigma": "sigma", "P": "P", "lam": "lambda", "N": "N", "lr": "lr", "t": "t"}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Closed-form predictions for ridge, random features and GD curves.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cmds = {
        "ridge": sub.add_parser("ridge", help="ridge regression deterministic equivalent"),
        "rf": sub.add_parser("rf", help="random-feature ridge (linear or Gaussian-equivalent nonlinear)"),
        "gd": sub.add_parser("gd", help="full-batch gradient-descent test-loss curves"),
    }
    for name, c in cmds.items():
        c.add_argument("--M", type=int, default=1000, help="input dimension / number of modes (default 1000)")
        c.add_argument("--alpha", type=float, default=None, help="capacity: spectrum k^-alpha (default 1.5)")
        c.add_argument("--r", type=float, default=None, help="source: target power k^-(1+2 alpha r) (default 0.4)")
        c.add_argument("--a", type=float, default=None, help="target power exponent a (with --b, instead of r)")
        c.add_argument("--b", type=float, default=None, help="spectrum exponent b (= alpha)")
        c.add_argument("--sigma", default="0", help="label-noise std (list)")
        c.add_argument("--P", required=True, help="training rows (list)")
        c.add_argument("--json", action="store_true", help="print JSON")
        if name in ("ridge", "rf"):
            c.add_argument("--lam", required=True, help="ridge lambda >= 0 (list)")
        if name == "rf":
            c.add_argument("--N", required=True, help="features (list)")
            c.add_argument("--activation", default="linear", help="linear (default), relu, tanh, erf, abs")
        if name == "gd":
            c.add_argument("--N", default=None, help="features (list); omit for linear regression")
            c.add_argument("--lr", required=True, help="learning rate (list)")
            c.add_argument("--t", required=True, help="times in steps (list)")
            c.add_argument("--flow", action="store_true", help="gradient flow instead of discrete GD")
    return p


def _task(args):
    from toymodels.tasks.powerlaw import PowerLawTask

    if args.a is not None or args.b is not None:
        if args.a is None or args.b is None:
            raise ConfigError("theory.a", "--a and --b go together")
        if args.alpha is not None or args.r is not None:
            raise ConfigError("theory.a", "give either --alpha/--r or --a/--b, not both")
        return PowerLawTask.from_exponents(args.M, args.a, args.b)
    return PowerLawTask(args.M, 1.5 if args.alpha is None else args.alpha, 0.4 if args.r is None else args.r)


def _grid(**lists) -> dict[str, torch.Tensor]:
    """Cartesian grid of the given lists: name -> [G] float64 tensor (row-major over the keyword order)."""
    names = list(lists)
    rows = list(itertools.product(*(lists[n] for n in names)))
    return {n: torch.tensor([r[i] for r in rows], dtype=torch.float64) for i, n in enumerate(names)}


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def run(args) -> dict:
    """The predictions as a JSON-ready dict (see the module docstring)."""
    from toymodels.theory.gaussian_equivalence import ge_theory
    from toymodels.theory.gd_curves import gd_curve, gd_curve_infinite
    from toymodels.theory.random_features import rf_theory
    from toymodels.theory.ridge import ridge_theory

    task = _task(args)
    eta, wbar = task.eta, task.wbar
    info = {"M": task.M, "alpha": task.alpha, "r": task.r, "a": task.a, "b": task.b}
    points = []
    if args.command == "ridge":
        g = _grid(P=args.P, lam=args.lam, sigma=args.sigma)
        th = ridge_theory(eta, wbar, g["P"], g["lam"], g["sigma"]).as_dict()
        for i in range(len(g["P"])):
            points.append({**{k: _num(v[i]) for k, v in g.items()}, **{k: _num(v[i]) for k, v in th.items()}})
    elif args.command == "rf":
        g = _grid(N=args.N, P=args.P, lam=args.lam, sigma=args.sigma)
        extra = {}
        if args.activation == "linear":
            th = rf_theory(eta, wbar, g["N"], g["P"], g["lam"], g["sigma"]).as_dict()
        else:
            res, ge = ge_theory(eta, wbar, g["N"], g["P"], g["lam"], g["sigma"], args.activation)
            th = res.as_dict()
            extra = {k: _num(v.expand(g["N"].shape)[0]) for k, v in ge.items() if k != "lambda_eff"}
            th["lambda_eff"] = ge["lambda_eff"]
        info["activation"] = args.activation
        info.update(extra)
        for i in range(len(g["N"])):
            points.append({**{k: _num(v[i]) for k, v in g.items()}, **{k: _num(v[i]) for k, v in th.items()}})
    else:
        t = torch.tensor(args.t, dtype=torch.float64)
        lists = {"P": args.P, "lr": args.lr, "sigma": args.sigma}
        if args.N is not None:
            lists = {"N": args.N, **lists}
        g = _grid(**lists)
        out = gd_curve(eta, wbar, g["P"], t, g["lr"], g["sigma"], N=g.get("N"), flow=args.flow)
        inf = gd_curve_infinite(eta, wbar, t, g["lr"] if args.N is None else g["lr"] * g["N"] / task.M,
                                flow=args.flow)
        info["flow"] = bool(args.flow)
        for i in range(len(g["P"])):
            row = {k: _num(v[i]) for k, v in g.items()}
            row["t"] = [_num(x) for x in t]
            row.update({k: [_num(x) for x in v[i]] for k, v in out.items()})
            row["E_g_infinite"] = [_num(x) for x in inf[i]]
            points.append(row)
    return {"command": args.command, "task": info, "points": points}


def _table(result: dict) -> str:
    rows = result["points"]
    task = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in result["task"].items())
    lines = [f"{PROG} {result['command']}: {task}"]
    fmt = lambda v: "-" if v is None else f"{v:.6g}"
    if result["command"] == "gd":
        for row in rows:
            head = ", ".join(f"{k}={fmt(row[k])}" for k in ("N", "P", "lr", "sigma") if k in row)
            lines.append(head)
            lines.append(f"{'t':>12} {'E_g':>12} {'test_loss':>12} {'bias':>12} {'noise':>12} {'E_g_inf':>12}")
            for j, tj in enumerate(row["t"]):
                vals = [row["E_g"][j], row["test_loss"][j], row["bias"][j], row["noise"][j], row["E_g_infinite"][j]]
                lines.append(f"{fmt(tj):>12} " + " ".join(f"{fmt(v):>12}" for v in vals))
        return "\n".join(lines)
    keys = list(rows[0])
    lines.append(" ".join(f"{k:>11}" for k in keys))
    for row in rows:
        lines.append(" ".join(f"{fmt(row[k]):>11}" for k in keys))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``toylab theory`` (argv without the subcommand word). Returns the exit status."""
    try:
        args = _parser().parse_args(_join_negative(list(argv)))
        if getattr(args, "lam", None) is not None:
            _check_lam_finite(args.lam, _task(args))
        for name, key in _LISTS.items():
            if hasattr(args, name):
                setattr(args, name, _floats(getattr(args, name), key))
        result = run(args)
        print(json.dumps(result) if args.json else _table(result))
        return 0
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except ConfigError as err:
        print(f"{PROG}: error: {err.key}: {err.message}", file=sys.stderr)
        return 2
    except Exception as err:  # anything else: still one line, no traceback
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"{PROG}: error: theory: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
