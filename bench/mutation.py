"""Mutation testing of the pure core: does a small wrong change to the code make a fast unit test fail?

    python bench/mutation.py [--sample 15] [--seed 1] [--timeout 120] [--module lk_notebook/state.py ...]

For each module of TARGETS it lists every mutation point (a comparison flipped, + and - swapped, an integer
constant moved by one, `and`/`or` swapped, a `not` dropped, a returned value replaced by None), applies one at a
time to a copy of the package in a temporary directory (the worktree is never touched), runs the module's unit
tests against that copy (`pytest -x --noconftest`: no server is needed or started), and reports each mutant as
killed (a test failed), survived (all passed) or timeout. `--sample N` takes N mutants per module at random
(`--seed`), so that a run fits in minutes; 0 takes them all. Not part of CI: its result goes in
docs/measurements.md.

Why a small script rather than mutmut: mutmut 3 copies the project into `mutants/` and runs the whole configured
suite through its own trampoline, which here would start a livekit-server from tests/conftest.py for every run; this
script runs only the fast tests named per module.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS: dict[str, tuple[str, ...]] = {
    "lk_notebook/state.py": ("tests/test_state.py", "tests/test_state_properties.py"),
    "lk_notebook/routing.py": ("tests/test_routing.py",),
    "lk_notebook/limits.py": (
        "tests/test_limits.py",
        "tests/test_session_units.py",
        "tests/test_lab_units.py",
        "tests/test_newuser_units.py",
    ),
    "lk_notebook/lab/theory.py": ("tests/test_lab_units.py",),
}
"""Module -> the fast unit tests that should catch a mutation of it."""

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_ARITH: dict[type[ast.operator], type[ast.operator]] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div}


@dataclass(frozen=True, slots=True)
class Mutant:
    module: str
    index: int
    """The n-th mutation point of the module, in AST walk order (stable for a given source)."""
    line: int
    what: str


def _docstring_ids(tree: ast.Module) -> set[int]:
    """Expression nodes that are docstrings (their constants are text, not code)."""
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    out.add(id(stmt.value))
    return out


def _points(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every (node, description) that can be mutated, in ast.walk order."""
    docs = _docstring_ids(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) in _FLIP:
                    yield node, f"{type(op).__name__} -> {_FLIP[type(op)].__name__}"
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            yield node, f"{type(node.op).__name__} -> {_ARITH[type(node.op)].__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not x -> x"
        elif isinstance(node, ast.Constant) and type(node.value) is int and id(node) not in docs:
            yield node, f"{node.value} -> {node.value + 1}"
        elif (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            yield node, "return x -> return None"


def mutants(module: str) -> list[Mutant]:
    tree = ast.parse((ROOT / module).read_text())
    return [Mutant(module, i, getattr(n, "lineno", 0), what) for i, (n, what) in enumerate(_points(tree))]


def _mutate(source: str, index: int) -> str:
    tree = ast.parse(source)
    node, _ = list(_points(tree))[index]
    if isinstance(node, ast.Compare):
        i = next(j for j, op in enumerate(node.ops) if type(op) in _FLIP)
        node.ops[i] = _FLIP[type(node.ops[i])]()
    elif isinstance(node, ast.BinOp):
        node.op = _ARITH[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        node.op = ast.UAdd()  # +x: the truth of x, unnegated (bool(+True) is True)
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):
        node.value = node.value + 1
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(value=None)
    return ast.unparse(ast.fix_missing_locations(tree))


def run(mutant: Mutant, copy: Path, timeout: float) -> str:
    """ "killed", "survived" or "timeout" for one mutant, applied to the package copy in `copy` and undone."""
    path = copy / mutant.module
    original = path.read_text()
    try:
        mutated = _mutate(original, mutant.index)
        # ast.unparse drops comments: a compare with the unmutated unparse would be the same module
        path.write_text(mutated)
        try:
            passed = _tests_pass(copy, TARGETS[mutant.module], timeout)
        except subprocess.TimeoutExpired:
            return "timeout"
        return "survived" if passed else "killed"
    finally:
        path.write_text(original)


def _tests_pass(copy: Path, tests: tuple[str, ...], timeout: float) -> bool:
    """Run `tests` of the copy against the copy's package. The tests are copied too: `tests/` is a package, so
    pytest puts its parent first on sys.path, and that parent must hold the mutated lk_notebook."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "--noconftest", "-p", "no:cacheprovider", *tests]
    done = subprocess.run(cmd, env=env, cwd=copy, capture_output=True, timeout=timeout, check=False)
    return done.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sample", type=int, default=15, help="mutants per module, at random (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant's test run")
    ap.add_argument("--module", action="append", choices=sorted(TARGETS), help="only these modules")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    totals: dict[str, int] = {"killed": 0, "survived": 0, "timeout": 0}
    survivors: list[tuple[Mutant, str]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lk-mutation-") as tmp:
        copy = Path(tmp)
        for part in ("lk_notebook", "tests"):
            shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, copy / name)
        for module in args.module or list(TARGETS):
            if not _tests_pass(copy, TARGETS[module], args.timeout):
                raise SystemExit(f"the unmutated {module} fails its tests {TARGETS[module]}: fix that first")
        for module in args.module or list(TARGETS):
            every = mutants(module)
            chosen = sorted(rng.sample(every, min(args.sample, len(every))) if args.sample else every,
                            key=lambda m: m.index)  # fmt: skip
            print(f"{module}: {len(chosen)} of {len(every)} mutants", flush=True)
            for m in chosen:
                verdict = run(m, copy, args.timeout)
                totals[verdict] += 1
                print(f"  {verdict:8s} {module}:{m.line} #{m.index} {m.what}", flush=True)
                if verdict != "killed":
                    line = (ROOT / module).read_text().splitlines()[m.line - 1].strip() if m.line else ""
                    survivors.append((m, line))
    minutes = (time.monotonic() - started) / 60
    print(f"\n{totals['killed']} killed, {totals['survived']} survived, {totals['timeout']} timed out "
          f"in {minutes:.1f} min (sample {args.sample or 'all'} per module, seed {args.seed})")  # fmt: skip
    for m, line in survivors:
        print(f"survivor {m.module}:{m.line} #{m.index} {m.what}: {line}")


if __name__ == "__main__":
    main()
