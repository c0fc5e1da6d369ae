"""Every command and option says what it does in ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from bridge.cli import build_parser


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions}
            for name, sub in action.choices.items():
                assert name in helped, f"{path} {name} has no help line"
                yield from _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = [f"{path} {action.option_strings or action.dest}" for path, action in _actions(build_parser(), "icbridge")
               if not (action.help or "").strip()]
    assert missing == []


def test_the_program_calls_itself_icbridge() -> None:
    assert build_parser().format_usage().startswith("usage: icbridge ")
