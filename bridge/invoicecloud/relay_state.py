"""The RelayState of an IdP-initiated launch, from an SP's ``relay_state_template``.

IC reads its landing page from ``account=…&ViewMode=…&DeepLinkID=…`` (the
default); SPs that treat RelayState as a URL get a template that is one
(docs/service-providers.md). A template is checked when it is loaded
(``check_template``): only the placeholders below, no attribute or index
access, no conversions or format specs (``str.format`` would otherwise reach
into the values' attributes). SAML Bindings 3.4.3 caps what a sender puts in
RelayState at 80 bytes; what a launch would send is measured when the launch
is created, so a link that cannot work is refused before a ticket exists.
"""

from __future__ import annotations

from string import Formatter

# Placeholder → what it becomes (docs/configuration.md lists the same).
PLACEHOLDERS = {
    "account": "the payer's account number",
    "view_mode": "0 (full page) or 1 (iFrame)",
    "deep_link": "the IC deep-link ID (e.g. 1 for bills)",
    "biller_guid": "the biller's BillerGUID",
    "biller": "the biller's name on the bridge",
}
# The shortest value each placeholder can take: a template longer than the limit with these is never usable.
_SHORTEST = {"account": "0", "view_mode": "0", "deep_link": "1", "biller_guid": "0" * 36, "biller": "b"}


def placeholders_of(template: str) -> list[str]:
    """The placeholder names in ``template``; ValueError naming what is wrong."""
    names = []
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write literal braces as {{{{ and }}}}") from None
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}}; known: "
                             + ", ".join(f"{{{known}}}" for known in PLACEHOLDERS))
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no conversion or format spec")
        names.append(name)
    return names


def check_template(template: str, *, max_bytes: int | None = None) -> str:
    """A usable template: known placeholders only, no control characters, and (given ``max_bytes``) one
    that fits at its shortest."""
    placeholders_of(template)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in template):
        raise ValueError("control characters are not allowed in RelayState")
    shortest = len(render(template, **_SHORTEST).encode())
    if max_bytes is not None and shortest > max_bytes:
        raise ValueError(f"even with the shortest values it makes a {shortest}-byte RelayState; "
                         f"at most {max_bytes} bytes are sent (limits.max_relay_state_sent)")
    return template


def render(template: str, *, account: str, view_mode: int | str, deep_link: int | str, biller_guid: str,
           biller: str) -> str:
    return template.format(account=account, view_mode=view_mode, deep_link=deep_link, biller_guid=biller_guid,
                           biller=biller)
