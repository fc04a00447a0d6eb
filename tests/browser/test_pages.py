"""Pages without JavaScript, with htmx, by keyboard; the session cookie's flags; the
browser itself (Debian's Chromium, not a bundled build)."""

from __future__ import annotations

import re

from tests.browser.conftest import Portal
from tests.e2e.test_journeys import PROVINCE, phone


def test_the_browser_is_debians_chromium(browser):
    major = int(browser.version.split(".")[0])
    assert major >= 120, browser.version  # Playwright 1.65 speaks to current Chromium


def test_a_petition_can_be_sent_without_javascript(browser, portal: Portal):
    context = browser.new_context(java_script_enabled=False, locale="vi-VN")
    try:
        page = context.new_page()
        page.goto(portal.page_url("/gui-kien-nghi"))
        # Another province: without htmx the form reloads with that province's communes.
        page.select_option("#province_code", "01")
        page.click("button[name=action][value=refresh]")
        assert page.locator("#ward_code option").count() > 100  # Hà Nội's communes
        assert page.locator("#province_code").input_value() == "01"
        assert page.locator(".field-error").count() == 0  # a reload is not a submission
        page.select_option("#province_code", PROVINCE)
        page.click("button[name=action][value=refresh]")
        page.select_option("#kind", "complaint")
        page.fill("#title", "Chậm cấp giấy chứng nhận quyền sử dụng đất")
        page.fill("#content", "Hồ sơ nộp từ tháng 3 đến nay chưa có kết quả, không được "
                              "giải thích lý do.")
        page.select_option("#ward_code", "14329")
        page.fill("#phone", phone(40))
        page.check("#consent")
        page.click("button:has-text('Gửi kiến nghị')")
        page.wait_for_url("**/gui-kien-nghi/da-gui")
        assert re.fullmatch(r"[A-Z0-9-]{6,}", page.locator("#ma-tra-cuu").inner_text().strip())
    finally:
        context.close()


def test_htmx_swaps_the_commune_list_and_the_keyboard_reaches_the_content(visit):
    citizen = visit()
    page = citizen.go("/gui-kien-nghi")
    assert page.locator("button[name=action][value=refresh]").is_hidden()  # JS: not needed
    with page.expect_response(re.compile(r".*/gui-kien-nghi/xa\?.*")):
        page.select_option("#province_code", "79")
    page.wait_for_function(
        "document.querySelectorAll('#ward_code option').length > 100")
    assert page.locator("#ward_code option", has_text="Phường Sài Gòn").count() == 1
    page = citizen.go("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("Bỏ qua")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "noi-dung"
    assert citizen.errors == []


def test_the_session_cookie_is_secure_httponly_and_lax(visit):
    officer = visit()
    officer.sign_in("thanhtra.ninhbinh")
    assert "Thanh tra, giám sát" in officer.page.inner_text("main")
    cookie = next(c for c in officer.context.cookies() if c["name"] == "doithoai_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # An auditor reads but plans nothing: the planner is not theirs.
    officer.go("/can-bo/doi-thoai/moi")
    assert "Ngoài phạm vi" in officer.page.inner_text("main")
