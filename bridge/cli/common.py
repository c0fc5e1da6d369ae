"""Helpers every command shares: the --config/--json options, loading the instance, printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from bridge.config import Settings, default_config_path, load_settings


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", default=None, help="bridge.toml (default: $BRIDGE_CONFIG, else ./bridge.toml)"
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(default_config_path(getattr(args, "config", None)))


def emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """One JSON object with --json, else the human text."""
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str, sort_keys=True))
    else:
        print(text)


def warn(message: str) -> None:
    print(f"icbridge: warning: {message}", file=sys.stderr)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns under a header line, two spaces apart (the last column is not padded)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
