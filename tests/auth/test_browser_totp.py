"""Browser test of the TOTP second factor (B4), in Debian's Chromium like tests/findings/test_browser.py
(the set-up in tests/conftest.py): with ``TOTP_ENFORCE`` on, an admin and an auditor are sent to
enrolment at their first sign-in, scan nothing but read the secret off the page (as a phone's app
would from the QR code), confirm a code, see their ten recovery codes once, sign out, sign in again
and must enter a code: the password alone opens nothing. Screenshots of the enrolment and code pages
go to tests/artifacts/screenshots/."""
from __future__ import annotations

import re
import time

import pyotp
import pytest

from audit.auth import totp
from audit.auth.services import create_user
from models import db

import web_helpers as wh
from web_helpers import PASSWORD

pytestmark = wh.NEEDS_CHROMIUM


class Clock:
    """The time the server's TOTP checks see, moved on by the test (no waiting 30 s for a new code)."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def live(app, quick_hashes, monkeypatch):
    app.config["TOTP_ENFORCE"] = True  # as in production
    create_user("admin", "admin", PASSWORD, display_name="系统管理员", by="test")
    create_user("auditor_fj", "auditor", PASSWORD, regions=["奉节县"], display_name="县审计员", by="test")
    db.session.commit()
    with wh.served(app) as url:
        yield url


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(totp, "time", c)
    return c


def password_step(page, live: str, username: str) -> None:
    page.goto(live + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.parametrize("username, role", [("admin", "管理员"), ("auditor_fj", "审计人员")])
def test_an_admin_and_an_auditor_must_enter_a_code_after_enrolment(browser, live, clock, request, username,
                                                                    role):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(15000)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP too

    # first sign-in: enrolment before anything else
    password_step(page, live, username)
    page.wait_for_url(re.compile(r"/account/totp$"))
    assert f"您的角色（{role}）须启用两步验证" in page.inner_text("main")
    page.goto(live + "/dashboard/")
    assert page.url.endswith("/account/totp")  # nothing else until enrolled
    qr = page.locator("svg.totp-qr")
    assert qr.is_visible() and qr.bounding_box()["width"] >= 200
    wh.shot(page, f"totp-1-enrol-{username}", request)
    page.set_viewport_size({"width": 390, "height": 844})
    assert qr.bounding_box()["x"] >= 0 and qr.bounding_box()["width"] <= 390  # whole on a phone
    wh.shot(page, f"totp-1-enrol-phone-{username}", request)
    page.set_viewport_size({"width": 1280, "height": 900})
    app_ = pyotp.TOTP(page.inner_text("#totp-secret").replace(" ", ""))
    page.fill("input[name=code]", app_.at(clock.now))
    page.click("button:has-text('确认启用')")
    page.wait_for_selector("text=两步验证已启用")
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    wh.shot(page, f"totp-2-recovery-codes-{username}", request)
    page.click("text=我已保存，继续")
    page.wait_for_url(re.compile(r"/dashboard/$"))

    # sign out, sign in: the password alone opens nothing
    page.click("button:has-text('退出')")
    page.wait_for_url(re.compile(r"/login"))
    password_step(page, live, username)
    page.wait_for_url(re.compile(r"/login/totp$"))
    assert "密码已通过" in page.inner_text("main")
    wh.shot(page, f"totp-3-code-{username}", request)
    page.goto(live + "/dashboard/")
    assert "/login" in page.url and "/dashboard" not in page.url.split("?")[0]

    page.goto(live + "/login/totp")
    page.fill("input[name=code]", "000000" if app_.at(clock.now) != "000000" else "111111")
    page.click("button[type=submit]")
    assert "验证码不正确" in page.inner_text(".flash-error")
    wh.shot(page, f"totp-4-wrong-code-{username}", request)
    clock.now += 30
    page.fill("input[name=code]", app_.at(clock.now))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.locator("h1").first.inner_text() in ("审计总览", "系统总览")
    page.goto(live + "/account/totp")
    assert "已启用" in page.inner_text("main")
    wh.shot(page, f"totp-5-status-{username}", request)
    for width in (390, 900):
        page.set_viewport_size({"width": width, "height": 844})
        wh.shot(page, f"totp-6-status-{width}px-{username}", request)
    assert not [e for e in errors if "401" not in e], errors  # the wrong code's page answers 401
    ctx.close()
