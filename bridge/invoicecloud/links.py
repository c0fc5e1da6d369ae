"""IC link specifics: deep-link IDs, ViewMode, LoginType mapping and the SSO redirect link.

Deep-link IDs are data, not a closed enum: IC's list may grow, so unknown
positive IDs pass where a biller allows them (DOMAIN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode

from bridge.errors import ValidationError

# IC's deep-link (RedirectID) table; names are the partner API's aliases.
DEEP_LINKS: Mapping[int, tuple[str, str]] = {
    1: ("bills", "Customer Portal Recent Bill Listing"),
    2: ("paperless", "Customer Portal Paperless Settings"),
    3: ("autopay", "Customer Portal AutoPay Settings"),
    5: ("payment-methods", "Customer Portal Payment Options"),
    9: ("scheduled-payments", "Customer Portal Scheduled Payments Listing"),
    11: ("pay-by-text", "Customer Portal Pay By Text Enrollment"),
    13: ("ic-sample", "Seen in IC's sample link; meaning not documented"),
}
DEEP_LINK_BY_NAME: Mapping[str, int] = {name: number for number, (name, _) in DEEP_LINKS.items()}
VIEW_FULL_PAGE, VIEW_IFRAME = 0, 1
VIEW_MODES = (VIEW_FULL_PAGE, VIEW_IFRAME)


def deep_link_page(deep_link: int) -> str:
    return DEEP_LINKS.get(deep_link, ("", f"IC page {deep_link} (not in the known list)"))[1]


def resolve_deep_link(value: int | str, *, allow_unknown: bool, field: str = "deep_link") -> int:
    """An ID or a name (``bills``, ``autopay``…) → the IC deep-link ID."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a deep-link ID or name")
    if isinstance(value, str) and not value.isdigit():
        if value not in DEEP_LINK_BY_NAME:
            known = ", ".join(sorted(DEEP_LINK_BY_NAME))
            raise ValidationError(field, f"unknown deep-link name {value!r}; known: {known}")
        return DEEP_LINK_BY_NAME[value]
    # An integer or its decimal string only: int() would truncate 3.9 to 3 and raise OverflowError on inf.
    if not isinstance(value, int | str):
        raise ValidationError(field, "must be a deep-link ID or name")
    number = int(value)
    if number <= 0 or number > 9999:
        raise ValidationError(field, "must be a positive deep-link ID")
    if number not in DEEP_LINKS and not allow_unknown:
        raise ValidationError(field, f"deep-link ID {number} is not known and this biller does not allow unknown IDs")
    return number


def resolve_view_mode(value: object, *, field: str = "view_mode") -> int:
    if isinstance(value, bool) or (value not in VIEW_MODES and str(value) not in ("0", "1")):
        raise ValidationError(field, "must be 0 (full page) or 1 (inside an iFrame)")
    return int(value)  # type: ignore[call-overload]


def resolve_login_type(
    mapping: Mapping[str, str], *, role: str | None, login_type: object | None, field: str = "role"
) -> tuple[str | None, str]:
    """(role, LoginType value) from a partner role or an explicit login type, per the biller's mapping.

    ``mapping`` maps partner roles to IC LoginType values and may hold a
    ``default`` entry. An explicit ``login_type`` must be one of the mapping's values.
    """
    if role is not None and login_type is not None:
        raise ValidationError(field, "give either role or login_type, not both")
    if login_type is not None:
        value = str(login_type)
        if isinstance(login_type, bool) or value not in set(mapping.values()):
            raise ValidationError("login_type", f"{value!r} is not a LoginType this biller uses")
        return None, value
    if role is None:
        if "default" not in mapping:
            raise ValidationError(field, "required: this biller has no default LoginType")
        return "default", mapping["default"]
    if role not in mapping:
        raise ValidationError(field, f"unknown role {role!r}; this biller knows {', '.join(sorted(mapping))}")
    return role, mapping[role]


def build_link(link_base: str, biller_guid: str, *, account: str, view_mode: int, deep_link: int) -> str:
    """``<link-base>/<BillerGUID>?account=..&ViewMode=..&DeepLinkID=..`` with every value URL-encoded."""
    query = urlencode({"account": account, "ViewMode": view_mode, "DeepLinkID": deep_link}, quote_via=quote)
    return f"{link_base.rstrip('/')}/{quote(biller_guid, safe='')}?{query}"
