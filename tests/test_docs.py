"""The documents name only commands, options and settings that exist.

How it reads them (so a document stays checkable): only code, i.e. inline code spans and fenced
code blocks of README.md and docs/*.md, is looked at; prose is free.

* Commands: in code, every ``icbridge …`` (also ``.venv/bin/icbridge …``) is followed through the
  real argparse parser (bridge.cli.build_parser): each word that names a subcommand must be one,
  each ``--option`` (or ``-o``) must be an option of the command reached so far, and ``a|b`` names
  alternatives that must all exist; ``keys … --opt`` (an elided command) needs ``--opt`` on one of
  the ``keys`` commands. Reading stops at shell syntax (``|`` with spaces, ``;``, ``&&``,
  ``#``, ``>``, ``\\``), and words that are not options or subcommands (values, ``DIR``, ``KID``, ``…``)
  are skipped.
* Settings: a code span ``section.key`` (optionally ``sp."<entity id>".key``) whose first part is a
  section of bridge.toml must exist in bridge.config.Settings (audit event names such as
  ``admin.login``, read from the modules that define them, are not settings). In docs/configuration.md's table, a
  row's first cell may continue with siblings (``keys.size`` / ``validity_days``) or a suffix
  (``idp.metadata_cache_duration`` / ``…_rotating``); those must exist too.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge import audit
from bridge.cli import build_parser
from bridge.config import Settings
from bridge.web.admin import views as admin_views

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"(`+)(.+?)\1", re.S)
COMMAND = re.compile(r"(?:^|[\s/(\[])icbridge\s+([^\n]*)")
SHELL_STOP = re.compile(r"\s(?:\||;|&&|\|\||#|>|<|2>)\s|\\$|\s#")
SECTIONS = set(Settings.model_fields) - {"base_dir"}
# Audit event names look like settings (`admin.login`); the modules that define them are read for them.
AUDIT_EVENTS = {value for module in (audit, admin_views) for value in vars(module).values()
                if isinstance(value, str) and re.fullmatch(r"[a-z]+\.[a-z_]+", value)}


def code_of(text: str) -> Iterator[str]:
    """Each fenced block's (logical) lines and each inline code span."""
    for block in FENCE.findall(text):
        yield from re.sub(r"\\\n\s*", " ", block).splitlines()  # a shell line continued with "\" is one line
    yield from (span for _, span in INLINE.findall(FENCE.sub("", text)))


def _documents() -> list[tuple[str, str]]:
    return [(path.relative_to(ROOT).as_posix(), path.read_text()) for path in DOCUMENTS]


# --- commands --------------------------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def command_problems(invocation: str) -> list[str]:
    """What in ``icbridge <invocation>`` does not exist (empty when all of it does)."""
    invocation = SHELL_STOP.split(invocation, maxsplit=1)[0]
    parser, path, problems = build_parser(), "icbridge", []
    elided: list[argparse.ArgumentParser] = []  # `keys … --biller`: the option of any keys command
    for raw in invocation.split():
        word = raw.strip("[](){},;:.'\"`")
        if word in ("…", "...") and not elided:
            elided = list(_subcommands(parser).values())
            continue
        if not word or word in ("…", "...") or word.startswith(("<", "$")):
            continue
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            if not re.fullmatch(r"--?[a-z][a-z0-9-]*", flag):
                continue
            if flag not in _options(parser) and not any(flag in _options(sub) for sub in elided):
                problems.append(f"`{path}` has no option {flag}")
            continue
        subcommands = _subcommands(parser)
        if not subcommands:
            continue  # a value or a positional argument
        names = word.split("|")
        if all(re.fullmatch(r"[a-z][a-z0-9-]*", name) for name in names):
            missing = [name for name in names if name not in subcommands]
            if missing:
                problems.append(f"`{path}` has no command {', '.join(missing)}")
                return problems
            parser, path = subcommands[names[0]], f"{path} {names[0]}"
            if len(names) > 1:
                return problems  # alternatives: their options are not named after them here
        elif not word.isupper():
            return problems  # a word that is no command at all ends what can be followed
    return problems


def _invocations() -> list[tuple[str, str]]:
    found = []
    for name, text in _documents():
        for code in code_of(text):
            found += [(name, match) for match in COMMAND.findall(code)]
    return found


def test_the_documents_name_icbridge_commands_at_all() -> None:
    assert len(_invocations()) > 30  # the reader below must keep finding them


@pytest.mark.parametrize(("invocation", "problem"), [
    ("billers add NAME --biller-guid GUID --sp ID", []),
    ("keys list|generate --json", []),
    ("audit export | head --nope", []),
    ("billers frobnicate", ["`icbridge billers` has no command frobnicate"]),
    ("billers list|frob", ["`icbridge billers` has no command frob"]),
    ("keys retire KID --forse", ["`icbridge keys retire` has no option --forse"]),
    ("init DIR --store-url=sqlite:///x", []),
    ("keys … --biller NAME", []),
    ("keys … --nope", ["`icbridge keys` has no option --nope"]),
])
def test_the_command_reader_itself(invocation: str, problem: list[str]) -> None:
    assert command_problems(invocation) == problem


def test_every_icbridge_command_and_option_in_the_documents_exists() -> None:
    problems = [f"{name}: `icbridge {invocation.strip()}`: {problem}"
                for name, invocation in _invocations() for problem in command_problems(invocation)]
    assert problems == []


# --- settings --------------------------------------------------------------------------------------

def _split(path: str) -> list[str]:
    return re.findall(r'"[^"]*"|[^.]+', path)


def _inner(annotation: object) -> tuple[object, bool]:
    """The model inside Annotated/Optional/list/dict, and whether a dict key comes next in the path."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(models[0]) if len(models) == 1 else (annotation, False)
    if origin is dict:
        return typing.get_args(annotation)[1], True
    if origin is list:
        return _inner(typing.get_args(annotation)[0])
    return annotation, False


def setting_exists(dotted: str) -> bool:
    model: object = Settings
    parts = _split(dotted)
    index = 0
    while index < len(parts):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return False
        field = model.model_fields.get(parts[index])
        if field is None:
            return False
        model, keyed = _inner(field.annotation)
        index += 2 if keyed else 1  # a dict's key ("<entity id>") is the document's placeholder
    return True


def _named_settings(span: str) -> list[str]:
    """Settings a code span names: ``section.key`` (the first part a bridge.toml section)."""
    span = span.strip()
    if not re.fullmatch(r'[a-z_]+(\.("[^"]*"|[a-z_]+))+', span):
        return []
    return [span] if _split(span)[0] in SECTIONS and span not in AUDIT_EVENTS else []


def _table_rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.startswith("| `"):
            spans = [span for _, span in INLINE.findall(line.split("|")[1])]
            if spans:
                yield spans


def configuration_table_settings(text: str) -> list[str]:
    """Every setting a row of the configuration table names, siblings and suffixes expanded."""
    names = []
    for spans in _table_rows(text):
        first = spans[0]
        names.append(first)
        parent, _, key = first.rpartition(".")
        for sibling in spans[1:]:
            if sibling.startswith("…"):
                names.append(f"{parent}.{key}{sibling[1:]}")
            elif re.fullmatch(r"[a-z_]+", sibling):
                names.append(f"{parent}.{sibling}")
    return names


def test_the_configuration_table_expands_siblings_and_suffixes() -> None:
    row = "| `keys.size` / `validity_days` | x |\n| `idp.metadata_cache_duration` / `…_rotating` | y |"
    assert configuration_table_settings(row) == [
        "keys.size", "keys.validity_days", "idp.metadata_cache_duration", "idp.metadata_cache_duration_rotating"]
    assert not setting_exists("keys.no_such_setting") and setting_exists('sp."https://x".attribute_names')


def test_every_setting_in_the_configuration_reference_exists() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    names = configuration_table_settings(text)
    assert len(names) > 40
    assert [name for name in names if not setting_exists(name)] == []


def test_every_setting_named_in_code_anywhere_in_the_documents_exists() -> None:
    missing = [f"{name}: {setting}" for name, text in _documents() for span in code_of(text)
               for setting in _named_settings(span) if not setting_exists(setting)]
    assert missing == []
