"""Mutation check of the security-critical rules: each mutant in mutants.toml is a one-line change that
breaks one rule; the tests it names must fail on it. A mutant that survives, or whose line is no longer
in the code (the list went stale), fails the run.

Each mutant runs in a throwaway copy of ``bridge/`` and ``tests/`` (never the working tree), with
``PYTHONPATH`` pointing at the copy so that subprocesses (``icbridge serve``) run the mutant too, and only
the test files it names: the whole check stays within a few minutes. Hand-written rather than mutmut or
cosmic-ray: those enumerate every operator in a file and run the whole suite per mutant, far over CI's
time bound; here each mutant is chosen for a rule and names the tests that own it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = Path(__file__).with_name("mutants.toml")
COPIED = ("bridge", "tests", "pyproject.toml")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


def load(path: Path = MUTANTS) -> list[Mutant]:
    entries = tomllib.loads(path.read_text())["mutant"]
    return [Mutant(e["name"], e["file"], e["find"], e["replace"], tuple(e["tests"])) for e in entries]


def stale(mutant: Mutant) -> str | None:
    """Why the mutant no longer applies to the code, or None."""
    source = ROOT / mutant.file
    if not source.exists():
        return f"{mutant.file} does not exist"
    count = source.read_text().count(mutant.find)
    if count != 1:
        return f"{mutant.file}: the line to mutate occurs {count} times (must be exactly once)"
    missing = [t for t in mutant.tests if not (ROOT / t.split("::")[0]).exists()]
    return f"named tests do not exist: {missing}" if missing else None


def _copy_tree(into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".hypothesis")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)
    # The JS peers are large and read-only: link them instead of copying.
    js = ROOT / "tests" / "js" / "node_modules"
    if js.exists():
        (into / "tests" / "js" / "node_modules").symlink_to(js)


def run(mutant: Mutant, *, timeout: float) -> tuple[bool, float, str]:
    """(killed, seconds, last output lines) for one mutant."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        target = work / mutant.file
        target.write_text(target.read_text().replace(mutant.find, mutant.replace, 1))
        env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests]
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return True, time.monotonic() - started, "timed out (counted as killed: the rule's tests hang)"
        tail = "\n".join(done.stdout.strip().splitlines()[-3:])
        # Exit 1: tests failed (killed). 0: all passed (survived). Anything else is a broken run, not a kill.
        if done.returncode not in (0, 1):
            raise SystemExit(f"mutation: {mutant.name}: pytest exited {done.returncode}:\n{done.stdout[-2000:]}"
                             f"{done.stderr[-2000:]}")
        return done.returncode == 1, time.monotonic() - started, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the mutants whose name contains this text")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per mutant (default 240)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args(argv)
    mutants = [m for m in load() if args.only is None or args.only in m.name]
    problems = [f"{m.name}: {why}" for m in mutants if (why := stale(m))]
    if problems:
        print("mutation: the mutant list is stale:\n  " + "\n  ".join(problems))
        return 1
    # The control: a copy with no mutant passes the first mutant's tests, so the copy itself breaks nothing
    # and a "kill" means the mutant. (The suite proper runs every named test unmutated anyway.)
    control = Mutant("control (no mutant)", mutants[0].file, "", "", mutants[0].tests)
    failed, seconds, tail = run(control, timeout=args.timeout)
    print(f"mutation: control {'FAILED' if failed else 'passed'} {seconds:5.1f}s", flush=True)
    if failed:
        print(f"mutation: the named tests fail in the copy without any mutant:\n{tail}")
        return 1
    survivors = []
    # Two at a time: most of a mutant's run is pytest start-up and fsync waits, not CPU.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = {pool.submit(run, mutant, timeout=args.timeout): mutant for mutant in mutants}
        for future in as_completed(runs):
            mutant = runs[future]
            killed, seconds, tail = future.result()
            print(f"mutation: {'killed  ' if killed else 'SURVIVED'} {seconds:5.1f}s  {mutant.name}", flush=True)
            if not killed:
                survivors.append(f"{mutant.name} ({mutant.file}) survived {', '.join(mutant.tests)}:\n{tail}")
    print(f"mutation: {len(mutants) - len(survivors)} killed, {len(survivors)} survived")
    if survivors:
        print("\n".join(survivors))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
