"""The admin console and the IC simulator in headless Chromium, at a phone's width (390 px) and a desktop's:
every page fits and passes axe-core; every state-changing form redirects, so a reload repeats nothing; every
destructive action asks first, and the irreversible ones want the key ID or biller name typed.

One `icbridge serve` and one signed-in page per width for the whole module (starting either costs seconds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .checks import DESKTOP, PHONE, assert_accessible, assert_fits
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.browser
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}
GUIDS = iter(f"aaaaaaaa-bbbb-4ccc-8ddd-{n:012d}" for n in range(1, 100))


def sign_in(page: Any, served: Any) -> None:
    page.goto(f"{served.base_url}/admin/login")
    page.fill("#token", served.init["admin_token"])
    page.click("#sign-in")
    page.wait_for_selector("#active-kid")


@pytest.fixture(scope="module")
def admin_pages(served, browser) -> Iterator[dict[str, Any]]:
    """A signed-in page per width, with a few sign-ins in the audit trail so the tables and charts have rows."""
    pages = {}
    for name, viewport in WIDTHS.items():
        page = browser.new_page(viewport=viewport)
        sign_in(page, served)
        pages[name] = page
    payer = browser.new_page()
    for deep_link in ("bills", "autopay"):
        payer.goto(served.create_login("demo", served.init["api_key"], deep_link=deep_link, view_mode=0))
        payer.wait_for_selector("#outcome")
    payer.close()
    yield pages
    for page in pages.values():
        page.close()


@pytest.fixture(scope="module")
def admin(admin_pages) -> Any:
    return admin_pages["desktop"]


def confirm(page: Any, served: Any, typed: str | None = None) -> Any:
    """Fill a confirmation page and submit it: the typed name, and the admin token where the page asks for it
    again (password-equivalent actions, once the sign-in is older than admin.reauth_window: this module's pages
    signed in when it started)."""
    if typed is not None:
        page.fill("#typed", typed)
    if page.locator("#reauth-secret").count():
        page.fill("#reauth-secret", served.init["admin_token"])
    return submit(page, "#confirm")


def submit(page: Any, selector: str) -> Any:
    """Click a form's button; the answer to the POST (before any redirect is followed)."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click(selector)
    page.wait_for_load_state()
    return answer.value


def add_biller(page: Any, served: Any, name: str) -> str:
    page.goto(f"{served.base_url}/admin/billers/new")
    page.fill("#name", name)
    page.fill("#biller_guid", next(GUIDS))
    page.select_option("#sp_entity_id", f"{served.base_url}/simulator/metadata")
    assert submit(page, "#save-biller").status == 303
    return page.inner_text("#api-key")


def keys_in_state(page: Any, served: Any) -> dict[str, str]:
    page.goto(f"{served.base_url}/admin/keys")
    rows = page.locator("#keys tr[data-kid]")
    return {rows.nth(i).get_attribute("data-kid"): rows.nth(i).get_attribute("data-state") for i in range(rows.count())}


def api_key_works(served: Any, biller: str, api_key: str) -> bool:
    answer = httpx.post(f"{served.base_url}/api/v1/logins", json={"biller": biller, "email": "a@example.com",
                        "account_number": "101Invoice", "role": "owner"},
                        headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    return answer.status_code == 201


# --- every page fits and passes axe, at both widths -------------------------------------------------------------
ADMIN_PATHS = ["/admin", "/admin/billers", "/admin/billers/new", "/admin/billers/demo", "/admin/billers/demo/setup",
               "/admin/billers/demo/api-key", "/admin/billers/demo/rotate-key", "/admin/billers/demo/remove",
               "/admin/keys", "/admin/audit", "/admin/audit?event=login.issued", "/admin/payments", "/admin/sessions"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_admin_page_fits_and_is_accessible(admin_pages, served, width, path):
    page = admin_pages[width]
    page.goto(served.base_url + path)
    assert page.locator("h1").count() == 1
    assert_fits(page)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_key_confirmation_and_api_key_pages_fit_and_are_accessible(admin_pages, served, width):
    page = admin_pages[width]
    page.goto(f"{served.base_url}/admin/keys/activate?kid={served.init['kid']}")
    assert_fits(page)
    assert_accessible(page)
    add_biller(page, served, f"shown-{width}")
    assert page.locator("#api-key").count() == 1
    assert_fits(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"admin-api-key-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_sign_in_page_fits_and_is_accessible(browser, served, width):
    page = browser.new_page(viewport=WIDTHS[width])
    page.goto(f"{served.base_url}/admin/login")
    assert_fits(page)
    assert_accessible(page)
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_simulator_pages_fit_and_are_accessible(browser, served, width):
    page = browser.new_page(viewport=WIDTHS[width])
    page.goto(f"{served.base_url}/simulator")
    assert_fits(page)
    assert_accessible(page)
    served.sole_shared_biller("demo")  # the other tests' billers share the simulator's SP
    page.goto(served.create_login("demo", served.init["api_key"], deep_link="paperless", view_mode=0))
    page.wait_for_selector("#outcome")
    assert page.get_attribute("#outcome", "data-ok") == "true"
    assert_fits(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"simulator-result-{width}.png"), full_page=True)
    page.close()


def test_screenshots_of_the_main_pages_at_both_widths(admin_pages, served):
    for width, page in admin_pages.items():
        for name, path in (("dashboard", "/admin"), ("keys", "/admin/keys"), ("audit", "/admin/audit"),
                           ("setup-sheet", "/admin/billers/demo/setup"), ("biller", "/admin/billers/demo"),
                           ("confirm-rotate", "/admin/billers/demo/rotate-key")):
            page.goto(served.base_url + path)
            page.screenshot(path=str(SCREENSHOTS / f"admin-{name}-{width}.png"), full_page=True)


# --- the details ------------------------------------------------------------------------------------------------
def test_the_navigation_marks_the_current_page_and_wraps_on_a_phone(admin_pages, served):
    page = admin_pages["phone"]
    page.goto(f"{served.base_url}/admin/billers/demo/setup")
    assert page.locator('nav a[aria-current="page"]').all_inner_texts() == ["Billers"]
    links = page.locator("nav a")
    tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
    assert len(tops) > 1 or page.locator("nav").bounding_box()["width"] <= PHONE["width"]
    assert page.inner_text("#who") == "signed in as admin"
    assert page.locator("#logout").bounding_box()["x"] + page.locator("#logout").bounding_box()["width"] <= 390


def test_h1_is_larger_than_h2_on_the_dashboard(admin):
    admin.goto(admin.url.split("/admin")[0] + "/admin")
    sizes = admin.evaluate("""() => ['h1', 'h2'].map(t => parseFloat(getComputedStyle(document.querySelector(t))
                                                                   .fontSize))""")
    assert sizes[0] > sizes[1]


def test_the_sign_ins_chart_has_a_title_a_description_and_the_numbers_as_text(admin, served):
    admin.goto(f"{served.base_url}/admin")
    chart = admin.locator("svg#hours-chart")
    assert chart.get_attribute("role") == "img"
    assert "Sign-ins per hour" in admin.locator("#hours-chart-title").text_content()
    assert re.search(r"\d+ assertions issued", admin.locator("#hours-chart-desc").text_content())
    issued = sum(int(c) for c in admin.locator("#hours tr td:nth-child(2)").all_text_contents())
    assert issued >= 2 and chart.locator("rect").count() >= 24


def test_the_key_timeline_shows_each_key_with_its_expiry(admin, served):
    admin.goto(f"{served.base_url}/admin/keys")
    desc = admin.locator("#key-timeline-desc").text_content()
    assert f"{served.init['kid']} is active, expires" in desc


def test_copy_buttons_copy_the_setup_sheet_values(browser, served):
    context = browser.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, served)
    page.goto(f"{served.base_url}/admin/billers/demo/setup")
    page.click('button[data-copy="sheet-metadata-url"]')
    assert page.evaluate("() => navigator.clipboard.readText()") == f"{served.base_url}/saml/metadata"
    assert page.locator("button.copy:visible").count() >= 6
    context.close()


def test_without_javascript_the_values_are_plain_text_and_no_copy_button_shows(browser, served):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in_without_js = page.goto(f"{served.base_url}/admin/login")
    assert sign_in_without_js.ok
    page.fill("#token", served.init["admin_token"])
    page.click("#sign-in")
    page.goto(f"{served.base_url}/admin/billers/demo/setup")
    assert page.locator("button.copy:visible").count() == 0
    assert page.inner_text("#sheet-entity-id") == f"{served.base_url}/saml/metadata"
    context.close()


# --- post/redirect/get: reloading a result page repeats nothing -------------------------------------------------
def test_creating_a_biller_redirects_and_a_reload_neither_repeats_nor_shows_the_key_again(admin, served):
    key = add_biller(admin, served, "prg-create")
    assert re.search(r"/admin/billers/prg-create/api-key\?done=", admin.url)
    admin.reload()
    assert admin.locator("#api-key").count() == 0 and admin.locator("#key-gone").count() == 1
    assert key not in admin.content()
    assert api_key_works(served, "prg-create", key)


def test_rotating_an_api_key_redirects_and_a_reload_does_not_rotate_again(admin, served):
    add_biller(admin, served, "prg-rotate")
    admin.goto(f"{served.base_url}/admin/billers/prg-rotate")
    admin.click("#rotate-key")
    assert confirm(admin, served, "prg-rotate").status == 303
    rotated = admin.inner_text("#api-key")
    for _ in range(2):
        admin.reload()
        assert admin.locator("#key-gone").count() == 1
    assert api_key_works(served, "prg-rotate", rotated)  # still the key in use: no rotation on reload


def test_editing_a_biller_redirects_and_a_reload_does_not_save_again(admin, served):
    add_biller(admin, served, "prg-edit")
    admin.goto(f"{served.base_url}/admin/billers/prg-edit")
    admin.fill("#return_site_name", "City of River")
    assert submit(admin, "#save-biller").status == 303
    assert "Saved biller prg-edit." in admin.inner_text("#result-message")
    admin.reload()
    assert admin.locator("#result").count() == 0
    admin.goto(f"{served.base_url}/admin/audit?biller=prg-edit&event=biller.changed")
    assert admin.locator("#audit tr[data-event]").count() == 2  # added, edited once


def test_key_moves_redirect_and_a_reload_repeats_none(admin, served):
    before = keys_in_state(admin, served)
    assert submit(admin, "#generate-key").status == 303
    kid = re.search(r"Generated key ([0-9a-f]{16})", admin.inner_text("#result-message")).group(1)
    admin.reload()
    assert len(keys_in_state(admin, served)) == len(before) + 1
    assert submit(admin, f"#stage-{kid}").status == 303
    admin.reload()
    assert admin.locator("#key-error").count() == 0 and keys_in_state(admin, served)[kid] == "pending"
    admin.click(f"#retire-{kid}")
    assert confirm(admin, served, kid).status == 303
    admin.reload()
    admin.click(f"#purge-{kid}")
    assert confirm(admin, served, kid).status == 303
    assert f"Key {kid} and its files were deleted." in admin.inner_text("#result-message")
    admin.reload()
    assert admin.locator("#result").count() == 0 and keys_in_state(admin, served) == before


def test_removing_a_biller_redirects_and_a_reload_is_harmless(admin, served):
    key = add_biller(admin, served, "prg-remove")
    admin.goto(f"{served.base_url}/admin/billers/prg-remove/remove")
    assert confirm(admin, served, "prg-remove").status == 303
    assert admin.inner_text("#result-message") == "Biller prg-remove removed; 1 API key(s) revoked."
    admin.reload()
    assert admin.locator("#result").count() == 0 and admin.locator('tr[data-biller="prg-remove"]').count() == 0
    assert not api_key_works(served, "prg-remove", key)


# --- destructive actions ask first ------------------------------------------------------------------------------
def test_rotate_asks_and_a_wrong_name_changes_nothing(admin, served):
    key = add_biller(admin, served, "ask-rotate")
    admin.goto(f"{served.base_url}/admin/billers/ask-rotate")
    admin.click("#rotate-key")
    assert admin.url.endswith("/admin/billers/ask-rotate/rotate-key")  # a page that asks, not the action
    assert api_key_works(served, "ask-rotate", key)
    assert confirm(admin, served, "ask-rotat").status == 400
    assert "nothing was changed" in admin.inner_text("#confirm-error")
    admin.click("#cancel")
    assert api_key_works(served, "ask-rotate", key)


def test_remove_asks_and_a_wrong_name_changes_nothing(admin, served):
    add_biller(admin, served, "ask-remove")
    admin.goto(f"{served.base_url}/admin/billers/ask-remove")
    admin.click("#remove-biller")
    assert confirm(admin, served, "demo").status == 400
    admin.goto(f"{served.base_url}/admin/billers")
    assert admin.locator('tr[data-biller="ask-remove"]').count() == 1


@pytest.mark.parametrize("action", ["activate", "retire", "purge"])
def test_key_actions_ask_first(admin, served, action):
    before = keys_in_state(admin, served)
    submit(admin, "#generate-key")
    kid = re.search(r"Generated key ([0-9a-f]{16})", admin.inner_text("#result-message")).group(1)
    if action == "activate":
        submit(admin, f"#stage-{kid}")
    admin.click(f"#{action}-{kid}")
    assert admin.url.endswith(f"/admin/keys/{action}?kid={kid}")
    if action == "activate":
        assert admin.locator("#typed").count() == 0  # asks, without typing: the key can be replaced again
        admin.click("#cancel")
    else:
        assert confirm(admin, served, "0" * 16).status == 400
    assert keys_in_state(admin, served)[kid] == ("pending" if action == "activate" else "generated")
    admin.goto(f"{served.base_url}/admin/keys/retire?kid={kid}")  # tidy up: keep the module's key list small
    confirm(admin, served, kid)
    admin.goto(f"{served.base_url}/admin/keys/purge?kid={kid}")
    confirm(admin, served, kid)
    assert keys_in_state(admin, served) == before
