"""The ``toylab`` command: fit, sweep, export, theory, spectra.

Bad input prints one line, ``toylab <command>: error: <key>: <what is allowed>``, and exits with status 2.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from toymodels.errors import ConfigError

from .lock import run_dir_lock

USAGE = """usage: toylab <command> [options]

commands:
  fit      train one ensemble:          toylab fit --config FILE [--key value ...] | toylab fit --resume RUN_DIR
  sweep    a grid of ensembles:         toylab sweep --config FILE [--backend ray [--address ADDR]] | --resume RUN_DIR
  export   write one member standalone: toylab export RUN_DIR --member I [--out FILE]
  theory   closed-form predictions:     toylab theory ridge|rf|gd [options] [--json]
  spectra  weight-spectrum metrics:     toylab spectra FILE|RUN_DIR [--json|--csv]
"""

RESUME_OVERRIDES = ("train.max_steps", "train.device", "train.progress", "train.checkpoint_every", "wandb.mode")


class UsageError(ConfigError):
    """Bad usage whose message already names what is wrong (a ConfigError, so the Python API raises one type)."""

    def __init__(self, message: str):
        ValueError.__init__(self, message)
        self.key, self.message = "usage", message


def _fail(command: str, message: str) -> int:
    print(f"toylab {command}: error: {message}", file=sys.stderr)
    return 2


def _jsonargparse_message(err: Exception) -> str:
    """One line from a jsonargparse error, naming the dotted key (with a did-you-mean for unknown keys)."""
    from .members import setting_type

    text = " ".join(str(err).split())
    m = re.search(r"Group '([\w.]+)' does not accept (?:nested key|option) '([\w.]+)'", text) or \
        re.search(r"unrecognized arguments: --([\w.]+)()", text)
    if m:
        key = f"{m.group(1)}.{m.group(2)}" if m.group(2) else m.group(1)
        try:
            setting_type(key)
        except ConfigError as e:
            return str(e)
    m = re.search(r'Parser key "([\w.]+)": (.*)', text)
    if m:
        detail = _union_detail(m.group(2))
        bad = re.search(r"Got value: (-?(?:nan|inf|infinity))\s*$", detail, re.IGNORECASE)
        if bad:
            return f"{m.group(1)}: must be a finite number (got {bad.group(1)})"
        detail = re.sub(r"Expected a typing\.Literal\[(.*?)\]", lambda g: "expected one of " + g.group(1).replace("'", ""),
                        detail)
        detail = re.sub(r"Expected a <class '(\w+)'>", r"expected \1", detail)
        detail = re.sub(r"\. Got value: (.*)$", lambda g: f" (got {g.group(1).strip()!r})", detail)
        return f"{m.group(1)}: {detail}"
    return text


_TYPE_NAMES = {"float": "a number", "int": "an integer", "NoneType": "null", "str": "a string", "bool": "true/false",
               "list": "a list", "dict": "a mapping", "list[int]": "a list of integers",
               "list[float]": "a list of numbers", "list[str]": "a list of strings"}


def _type_name(t: str) -> str:
    t = t.strip()
    m = re.fullmatch(r"<class '(\w+)'>", t)
    t = m.group(1) if m else t.replace("typing.List", "list").replace("typing.Dict", "dict")
    return _TYPE_NAMES.get(t, "a mapping" if t.startswith("dict[") else t)


def _union_detail(detail: str) -> str:
    """jsonargparse's type errors as one short phrase: the Union dump ("Does not validate against any of the Union
    subtypes Subtypes: [list[int], <class 'NoneType'>] ... Given value: abc") -> "expected a list of integers or
    null (got 'abc')"; "expected int. Got value: 0.5" -> "expected an integer (got 0.5)"."""
    m = re.search(r"Union subtypes.*?Subtypes: \[(.*?)\] Errors:.*Given value: (.*)$", detail)
    if m:
        names = [_type_name(t) for t in re.split(r",\s*(?![^\[]*\])", m.group(1))]
        return f"expected {' or '.join(names)} (got {m.group(2).strip()!r})"
    m = re.fullmatch(r"[Ee]xpected (?:a )?(<class '\w+'>|\w+)\. Got value: (.*)", detail.strip())
    if m and not re.fullmatch(r"-?(nan|inf|infinity)", m.group(2).strip(), re.IGNORECASE):
        return f"expected {_type_name(m.group(1))} (got {m.group(2).strip()!r})"
    return detail


def _check_config_files(argv: list[str]):
    """Each ``--config FILE`` must be a UTF-8 YAML mapping: one line naming the file otherwise."""
    import yaml

    paths = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"] + \
        [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    for p in map(Path, paths):
        if not p.is_file():
            raise ConfigError("--config", f"{p} does not exist" if not p.exists() else f"{p} is not a file")
        try:
            data = yaml.safe_load(p.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError("--config", f"{p} is not a text file (expected a UTF-8 YAML mapping of settings)") \
                from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise ConfigError("--config", f"{p} is not valid YAML{line}: {getattr(err, 'problem', None) or err}") \
                from None
        if data is None:
            raise ConfigError("--config", f"{p} is empty (expected a YAML mapping of settings)")
        if not isinstance(data, dict):
            raise ConfigError("--config", f"{p} holds a {type(data).__name__}, expected a YAML mapping of settings")


def parse_run_config(argv: list[str]):
    _check_config_files(argv)  # before the parser's imports: a missing file answers at once
    from jsonargparse import ActionConfigFile, ArgumentParser

    from .config.flat import FlatRunConfig
    from .typed import config_from_dict

    parser = ArgumentParser(prog="toylab fit", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML run config")
    parser.add_class_arguments(FlatRunConfig, None)  # model and task: every name's settings (trainers.config.flat)
    try:  # only the values the user gave: pydantic fills the defaults of the class model.name / task.name select
        ns = parser.parse_args(argv, defaults=False)
    except Exception as err:  # jsonargparse reports unknown keys and bad types as argparse errors
        raise UsageError(_jsonargparse_message(err)) from None
    data = ns.as_dict()
    data.pop("config", None)
    data.pop("__path__", None)
    return config_from_dict(data)


def _resume_overrides(argv: list[str], allowed: tuple[str, ...]) -> dict:
    """The settings a resume may change, parsed by argparse (YAML values, typed by ``trainers.typed``)."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(prog="toylab --resume", add_help=False, exit_on_error=False,
                                     allow_abbrev=False)
    for key in allowed:
        parser.add_argument(f"--{key}", dest=key, type=yaml.safe_load, default=argparse.SUPPRESS)
    try:
        ns, unknown = parser.parse_known_args(argv)
    except argparse.ArgumentError as err:
        raise UsageError(f"{err.argument_name.lstrip('-') if err.argument_name else 'resume'}: {err.message}") \
            from None
    if unknown:
        key = unknown[0][2:].partition("=")[0] if unknown[0].startswith("--") else None
        if not key:
            raise UsageError(f"unexpected argument {unknown[0]!r}")
        raise ConfigError(key, f"cannot change on resume; allowed: {', '.join(allowed)}")
    return vars(ns)


def _resumed(argv: list[str], marker: str, allowed: tuple[str, ...]):
    """(run directory, its config with the allowed overrides applied) for ``--resume RUN_DIR [--key value ...]``."""
    from .members import with_settings
    from .reader import read_run_config

    i = argv.index("--resume")
    if i + 1 >= len(argv):
        raise UsageError("--resume needs a run directory")
    run_dir = Path(argv[i + 1])
    if not (run_dir / marker).is_file():
        kind = "sweep run directory" if marker == "plan.json" else "toylab run directory"
        raise ConfigError("--resume", f"{run_dir} is not a {kind} (no {marker})")
    overrides = _resume_overrides(argv[:i] + argv[i + 2:], allowed)
    return run_dir, with_settings(read_run_config(run_dir), overrides)


def cmd_fit(argv: list[str]) -> int:
    from .checks import check_settings
    from .members import expand

    if "--resume" in argv:
        run_dir, cfg = _resumed(argv, "config.yaml", RESUME_OVERRIDES)
        if (run_dir / "plan.json").is_file():
            raise ConfigError("--resume", f"{run_dir} is a sweep run directory; continue it with  toylab sweep "
                                          f"--resume {run_dir}")
        resume = True
    else:
        cfg = parse_run_config(argv)
        resume = False
    members = expand(cfg)
    check_settings(cfg, members)  # usage errors come back before torch and Lightning are imported
    from .callbacks.interrupt import exit_status
    from .fitting import run_fit
    from .rundir import new_run_dir, write_config
    from .validate import validate

    validate(cfg, members)
    if not resume:
        run_dir = new_run_dir(cfg.out_dir, cfg.name)
    with run_dir_lock(run_dir, "--resume" if resume else "RUN_DIR"):  # one process per run directory
        if resume and (run_dir / "DONE").exists() and "train.max_steps" not in " ".join(argv):
            print(f"{run_dir} is already complete", file=sys.stderr)
            print(run_dir)
            return 0
        (run_dir / "DONE").unlink(missing_ok=True)
        write_config(run_dir, cfg)
        result = run_fit(cfg, members, run_dir, resume=resume)
    if result.interrupted:
        print(f"interrupted: checkpoint saved; continue with  toylab fit --resume {run_dir}", file=sys.stderr)
        print(run_dir)
        return exit_status()
    print(run_dir)
    return 0


SWEEP_ALIASES = {"--backend": "--sweep.backend", "--address": "--sweep.address"}


SWEEP_RESUME_OVERRIDES = ("sweep.backend", "sweep.address", "train.progress", "train.device", "wandb.mode")


def cmd_sweep(argv: list[str]) -> int:
    from .callbacks.interrupt import exit_status
    from .rundir import new_run_dir, write_config
    from .sweeps.plan import Plan, make_plan
    from .sweeps.run import run_sweep

    argv = ["".join((SWEEP_ALIASES.get(k, k), eq, v)) for k, eq, v in (a.partition("=") for a in argv)]
    if "--resume" in argv:
        run_dir, cfg = _resumed(argv, "plan.json", SWEEP_RESUME_OVERRIDES)
        plan = Plan.load(run_dir / "plan.json")
    else:
        cfg = parse_run_config(argv)
        plan = make_plan(cfg)
        run_dir = new_run_dir(cfg.out_dir, cfg.name)
        write_config(run_dir, cfg)
        plan.save(run_dir / "plan.json")
    with run_dir_lock(run_dir, "--resume"):  # one process per sweep directory
        result = run_sweep(cfg, run_dir, plan)
    if result.figure is not None:
        print(f"phase diagram: {result.figure}", file=sys.stderr)
    if result.interrupted:
        print(f"interrupted: continue with  toylab sweep --resume {run_dir}", file=sys.stderr)
        print(run_dir)
        return exit_status()
    print(run_dir)
    return 0


def cmd_export(argv: list[str]) -> int:
    import argparse

    from .export import export_member

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, no usage block
            raise UsageError(message)

    p = Parser(prog="toylab export")
    p.add_argument("run_dir")
    p.add_argument("--member", type=int, required=True)
    p.add_argument("--out", default=None)
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    path = export_member(Path(args.run_dir), args.member, args.out)
    print(path)
    return 0


def _delegate(module: str, argv: list[str]) -> int:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise UsageError(f"this command is not available in this installation ({err})") from None
    return int(mod.main(argv) or 0)


COMMANDS = {
    "fit": cmd_fit,
    "sweep": cmd_sweep,
    "export": cmd_export,
    "theory": lambda argv: _delegate("trainers.theory_cli", argv),
    "spectra": lambda argv: _delegate("trainers.spectra_cli", argv),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _fail(command, f"unknown command; choose one of {', '.join(COMMANDS)}")
    try:
        return COMMANDS[command](rest)
    except (ConfigError, UsageError) as err:
        return _fail(command, str(err))
    except OSError as err:  # an unwritable out_dir / --out, a full disk: the path and the reason, one line
        return _fail(command, f"{err.filename or ''}: {err.strerror or err}".lstrip(": "))


if __name__ == "__main__":
    sys.exit(main())
