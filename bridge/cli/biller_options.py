"""The one table of biller options that ``icbridge billers add`` and ``billers update`` share.

A new biller setting is one ``BillerOption`` row in ``BILLER_OPTIONS``: both commands get the
flag and its help, ``add`` starts from the ``Biller`` default and ``update`` changes only the
fields given on its command line. Values are checked afterwards by bridge.billers.validate_biller,
the same rules the admin console uses; a converter only turns the command-line text into the
field's type (and raises ValidationError naming the flag when it cannot).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.billers import FLOWS, IDP_ENDPOINTS, REST_DELIVERIES, SSO_METHODS
from bridge.config import IC_LINK_BASE
from bridge.errors import ValidationError
from bridge.invoicecloud.links import DEEP_LINK_BY_NAME, resolve_deep_link

# Kinds of flag: one value; repeatable (the list replaces the old one on update); on/off switch.
ONE, MANY, SWITCH = "one", "many", "switch"
DEFAULT_LOGIN_TYPES = {"owner": "1", "default": "1"}


def parse_login_types(pairs: list[str]) -> dict[str, str]:
    """``["owner=1", "co-owner=5"]`` → ``{"owner": "1", "co-owner": "5"}``; none given → owner and default 1."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        role, sep, value = pair.partition("=")
        if not sep or not role.strip() or not value.strip():
            raise ValidationError("--login-type", f"{pair!r} is not ROLE=VALUE (e.g. owner=1)")
        mapping[role.strip()] = value.strip()
    return mapping or dict(DEFAULT_LOGIN_TYPES)


def _optional_text(value: str) -> str | None:
    """An empty value clears an optional setting (``--return-url ''``)."""
    return value.strip() or None


def _deep_link(value: str) -> int:
    # Whether an unknown ID is allowed is the biller's own setting: validate_biller decides that.
    return resolve_deep_link(value.strip(), allow_unknown=True, field="--deep-link")


def _deep_links(values: list[str]) -> tuple[int, ...]:
    return tuple(sorted({resolve_deep_link(v.strip(), allow_unknown=True, field="--allowed-deep-link")
                         for v in values}))


def _integer(flag: str) -> Callable[[str], int]:
    def convert(value: str) -> int:
        if not value.strip().isdigit():
            raise ValidationError(flag, "must be a number")
        return int(value)

    return convert


@dataclass(frozen=True, slots=True)
class BillerOption:
    """One ``--flag`` that sets the Biller field ``field``."""

    flag: str
    field: str
    help: str
    kind: str = ONE
    metavar: str | None = None
    convert: Callable[[Any], Any] | None = None  # text (a list for MANY) → the field's value
    choices: tuple[str, ...] | None = None
    required_on_add: bool = False

    def add_to(self, parser: argparse.ArgumentParser, *, updating: bool) -> None:
        dest = self.field
        help_text = self.help + (" (repeat the option; on update the list replaces the old one)"
                                 if self.kind == MANY else "")
        if self.kind == SWITCH:
            parser.add_argument(self.flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
            return
        parser.add_argument(
            self.flag, dest=dest, metavar=self.metavar, choices=self.choices, help=help_text,
            action="append" if self.kind == MANY else "store", default=None,
            required=self.required_on_add and not updating,
        )

    def value(self, args: argparse.Namespace) -> tuple[bool, Any]:
        """(given on the command line?, converted value)."""
        raw = getattr(args, self.field, None)
        if raw is None:
            return False, None
        return True, self.convert(raw) if self.convert is not None else raw


BILLER_OPTIONS: tuple[BillerOption, ...] = (
    BillerOption("--biller-guid", "biller_guid", "the biller's BillerGUID on Invoice Cloud", metavar="GUID",
                 required_on_add=True),
    BillerOption("--sp", "sp_entity_id", "entity ID of the biller's SP (its metadata must be trusted)",
                 metavar="ENTITY_ID", required_on_add=True),
    BillerOption("--link-base", "link_base", (f"base of IC's redirect link (default {IC_LINK_BASE}; "
                                               "the simulator's when --sp is the built-in simulator)"),
                 metavar="URL"),
    BillerOption("--login-type", "login_types",
                 "map a partner role to an IC LoginType value, e.g. owner=1 co-owner=5 default=1 "
                 "(default owner=1 default=1)", kind=MANY, metavar="ROLE=VALUE", convert=parse_login_types),
    BillerOption("--view-mode", "view_mode", "default ViewMode: 0 full page, 1 inside the portal's iFrame "
                 "(default 1)", metavar="0|1", choices=("0", "1"), convert=int),
    BillerOption("--deep-link", "deep_link", "default IC page (DeepLinkID or name: "
                 f"{', '.join(DEEP_LINK_BY_NAME)}; default 1)", metavar="ID|NAME", convert=_deep_link),
    BillerOption("--allowed-deep-link", "allowed_deep_links",
                 "a deep link partners may ask for (default: every known one)", kind=MANY, metavar="ID|NAME",
                 convert=_deep_links),
    BillerOption("--allow-unknown-deep-links", "allow_unknown_deep_links",
                 "accept DeepLinkIDs that are not in IC's known list (default: no)", kind=SWITCH),
    BillerOption("--flow", "flow", "default login flow (default sp-initiated)", choices=FLOWS),
    BillerOption("--idp-fallback", "idp_fallback",
                 "when a browser blocks the session cookie inside the portal's frame, sign the payer in "
                 "IdP-initiated instead (IC must accept unsolicited Responses for this biller; default: no)",
                 kind=SWITCH),
    BillerOption("--portal-origin", "portal_origins",
                 "origin of the partner portal that frames IC pages (frame-ancestors), e.g. https://portal.example",
                 kind=MANY, metavar="ORIGIN", convert=tuple),
    BillerOption("--login-url", "login_url",
                 "where to send a payer who reaches the bridge from IC with no session ('' clears)",
                 metavar="URL", convert=_optional_text),
    BillerOption("--return-url", "return_url", "IC's 'Sign out and return' target ('' clears)", metavar="URL",
                 convert=_optional_text),
    BillerOption("--return-site-name", "return_site_name", "site name on IC's 'Sign out and return to …' button "
                 "('' clears)", metavar="NAME", convert=_optional_text),
    BillerOption("--css-url", "css_url", "stylesheet IC applies to its pages for this biller ('' clears)",
                 metavar="URL", convert=_optional_text),
    BillerOption("--sso-method", "sso_method", "how payers are signed in to IC: saml, or rest (Cloud SSO Connect "
                 "over REST, docs/rest-sso.md; needs the biller's IC API key) (default saml)", choices=SSO_METHODS),
    BillerOption("--rest-login-type-id", "rest_login_type_id", "the LoginTypeID REST sign-in registers payers with "
                 "(default 1)", metavar="1|5", convert=_integer("--rest-login-type-id")),
    BillerOption("--rest-delivery", "rest_delivery", "how the browser carries IC's token to its Cloud SSO page: "
                 "post (an auto-submitted form, default) or get (in the URL, only where IC requires it)",
                 choices=REST_DELIVERIES),
    BillerOption("--idp-endpoints", "idp_endpoints", "which IdP endpoints IC was given for this biller: the "
                 "deployment's shared ones, or the biller's own /saml/b/NAME/... (default shared; "
                 "docs/per-biller.md)", choices=IDP_ENDPOINTS),
    BillerOption("--idp-entity-id", "idp_entity_id", "the biller's own IdP entity ID (per-biller endpoints "
                 "only): a URI, or 'own' for <base_url>/saml/b/NAME/metadata ('' returns to the deployment's)",
                 metavar="URI|own", convert=_optional_text),
)


def add_biller_options(parser: argparse.ArgumentParser, *, updating: bool) -> None:
    for option in BILLER_OPTIONS:
        option.add_to(parser, updating=updating)


def biller_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The Biller fields given on the command line, converted (``add`` fills the rest with defaults)."""
    changes: dict[str, Any] = {}
    for option in BILLER_OPTIONS:
        given, value = option.value(args)
        if given:
            changes[option.field] = value
    return changes
