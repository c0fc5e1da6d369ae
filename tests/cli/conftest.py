"""An instance made by ``icbridge init`` (SQLite, simulator on) and a runner that refuses tracebacks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.instance import InitResult, init_instance


@dataclass
class Ran:
    code: int
    out: str
    err: list[str]

    def json(self) -> dict[str, Any]:
        assert self.out.count("\n") == 1, self.out
        return json.loads(self.out)


@pytest.fixture
def instance(tmp_path: Path, clock) -> InitResult:  # type: ignore[no-untyped-def]
    return init_instance(tmp_path / "inst", base_url="http://127.0.0.1:8000", now=clock())


@pytest.fixture
def icbridge(instance: InitResult, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``icbridge ARGS --config <the instance>``; no output may hold a traceback."""

    def run(*argv: str) -> Ran:
        code = main([*argv, "--config", str(instance.config)])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return Ran(code, captured.out, captured.err.splitlines())

    return run
