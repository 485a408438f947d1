"""Off loopback the dashboard is read-only until the viewer signs in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.auth import (
    ACCOUNTS_VARIABLE,
    HASH_VARIABLE,
    SignInThrottle,
    account_allowed,
    check_password,
    is_public,
    password_hash,
)
from storage import TrialStore
from tests.conftest import copy_study

from .test_pages import open_page


def test_password_hashes() -> None:
    encoded = password_hash("correct horse")
    assert encoded.startswith("scrypt$") and "correct" not in encoded
    assert check_password("correct horse", encoded)
    assert not check_password("correct horsE", encoded)
    assert not check_password("x", "") and not check_password("x", "md5$abc")
    assert password_hash("same") != password_hash("same")  # salted


def _buttons(app) -> dict[str, bool]:
    """Action buttons by key -> disabled."""
    return {b.key: b.disabled for b in app.button if b.key in ("promote", "export")}


def test_with_oidc_configured_the_viewer_signs_in_with_streamlit(
    digits_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listening_on
) -> None:
    """OIDC in secrets.toml: Streamlit's own sign-in button, nothing changeable before it."""
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    config = digits_study
    monkeypatch.setenv("AUTOML_STORAGE", copy_study(config, tmp_path))
    monkeypatch.setenv(ACCOUNTS_VARIABLE, "grace@example.com,@example.org")
    listening_on("0.0.0.0")
    app = AppTest.from_file(APP, default_timeout=60)
    app.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                           "cookie_secret": "x" * 32, "client_id": "id", "client_secret": "s",
                           "server_metadata_url": "https://id.example/.well-known/openid"}  # fmt: skip
    app.run()
    app.switch_page("app_pages/champion.py")
    app.run()
    assert not app.exception
    assert any(b.label == "Sign in to promote and export" for b in app.button)
    assert _buttons(app) == {"promote": True, "export": True}
    # The provider's answer, as Streamlit hands it to the app after st.login's round trip
    # (AppTest seeds st.user; no identity provider is reachable from a test).
    # Any account of the provider signs in, but only those on the allowlist may act.
    app.user = {"is_logged_in": True, "email": "ada@example.com", "name": "Ada"}
    app.run()
    assert not app.exception
    assert any("not among the accounts" in c.value for c in app.sidebar.caption)
    assert _buttons(app) == {"promote": True, "export": True}
    for allowed in ("grace@example.com", "Ada@Example.ORG"):  # by address, by domain
        app.user = {"is_logged_in": True, "email": allowed, "name": "someone"}
        app.run()
        assert any(c.value == f"Signed in as {allowed}" for c in app.sidebar.caption)
        assert any(b.label == "Sign out" for b in app.button)
        assert _buttons(app) == {"promote": False, "export": False}


def test_promote_and_export_need_a_signed_in_viewer(
    digits_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listening_on
) -> None:
    config = digits_study
    monkeypatch.setenv("AUTOML_STORAGE", copy_study(config, tmp_path))

    listening_on("127.0.0.1")  # loopback: nothing to sign in to
    assert _buttons(open_page("app_pages/champion.py")) == {"promote": False, "export": False}

    listening_on(None)  # `streamlit run` without --server.address: every interface
    monkeypatch.delenv(HASH_VARIABLE, raising=False)
    app = open_page("app_pages/champion.py")
    assert _buttons(app) == {"promote": True, "export": True}
    assert any("Read-only" in c.value for c in app.sidebar.caption)
    # A click on the shut button (a forged message: the browser would not send it) does
    # nothing: the page checks the viewer's right where it acts.
    champion = TrialStore(os.environ["AUTOML_STORAGE"]).champion(config.name)
    shut = app.button(key="promote")
    shut.proto.disabled = False  # AppTest, like a browser, would not click a disabled button
    shut.click().run()
    assert not app.exception
    assert TrialStore(os.environ["AUTOML_STORAGE"]).champion(config.name) == champion

    monkeypatch.setenv(HASH_VARIABLE, password_hash("correct horse"))
    app = open_page("app_pages/champion.py")
    assert _buttons(app) == {"promote": True, "export": True}
    (sign_in,) = [b for b in app.button if b.label == "Sign in"]
    app.sidebar.text_input[0].input("wrong one")
    sign_in.click().run()
    assert [e.value for e in app.error] == ["Wrong password."]
    assert _buttons(app) == {"promote": True, "export": True}
    app.sidebar.text_input[0].input("correct horse")
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert not app.exception
    assert _buttons(app) == {"promote": False, "export": False}


def test_where_the_dashboard_listens_decides_whether_it_is_public(monkeypatch) -> None:
    monkeypatch.delenv("AUTOML_DASHBOARD_PUBLIC", raising=False)
    for private in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert not is_public(private), private
    for public in (None, "", "0.0.0.0", "::", "192.168.1.5", "dashboard.example.com"):
        assert is_public(public), public
    monkeypatch.setenv("AUTOML_DASHBOARD_PUBLIC", "1")
    assert is_public("127.0.0.1")  # made public on purpose


def test_only_listed_accounts_may_change_things() -> None:
    accounts = "Ada@example.com, @lab.example.org"
    assert account_allowed("ada@EXAMPLE.com", accounts)
    assert account_allowed("grace@lab.example.org", accounts)
    assert not account_allowed("eve@example.com", accounts)
    assert not account_allowed("eve@evil.example.org", accounts)  # a domain is whole
    assert not account_allowed("ada@example.com", "")  # no list: nobody
    assert not account_allowed(None, accounts) and not account_allowed("ada", accounts)


def test_wrong_passwords_slow_down_every_next_attempt() -> None:
    now = [1000.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(SignInThrottle.FREE):
        assert throttle.wait_s() == 0
        throttle.failed()
    assert throttle.wait_s() == 0  # the free ones cost nothing
    waits = []
    for _ in range(5):
        throttle.failed()
        waits.append(throttle.wait_s())
        now[0] += waits[-1]
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0]
    for _ in range(10):
        throttle.failed()
    assert throttle.wait_s() == SignInThrottle.MAX_WAIT_S
    throttle.succeeded()
    assert throttle.wait_s() == 0


def test_the_host_names_a_dashboard_answers_to() -> None:
    from dashboard.auth import host_allowed

    loopback = "127.0.0.1"
    assert host_allowed("http://localhost:8501/", loopback, None)
    assert host_allowed("http://[::1]:8501/trials", loopback, None)
    assert host_allowed("127.0.0.1:8501", loopback, None)  # a Host header
    assert not host_allowed("http://attacker.example:8501/", loopback, None)  # rebound DNS
    assert host_allowed(None, loopback, None)  # no browser, nothing to check
    assert host_allowed("http://dash.example.com/", "0.0.0.0", None)  # public: sign-in guards
    assert not host_allowed("http://other.example/", "0.0.0.0", "dash.example.com")
    assert host_allowed("http://DASH.example.com:443/", "0.0.0.0", "dash.example.com")
    assert host_allowed("http://anything/", loopback, "*")


def test_a_page_reached_by_a_rebound_dns_name_is_refused(seeded_url: str) -> None:
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    app = AppTest.from_file(APP, default_timeout=60)
    app.context["url"] = "http://attacker.example:8501/"
    app.run()
    assert not app.exception
    assert any("does not answer to" in e.value for e in app.error)
    assert not app.dataframe  # no study shown
    app.context["url"] = "http://localhost:8501/"
    app.run()
    assert not app.exception and not app.error
