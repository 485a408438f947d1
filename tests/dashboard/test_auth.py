"""Off loopback the dashboard is read-only until the viewer signs in."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.auth import HASH_VARIABLE, PUBLIC_VARIABLE, check_password, password_hash
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
    digits_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OIDC in secrets.toml: Streamlit's own sign-in button, nothing changeable before it."""
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    config = digits_study
    monkeypatch.setenv("AUTOML_STORAGE", copy_study(config, tmp_path))
    monkeypatch.setenv(PUBLIC_VARIABLE, "1")
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
    app.user = {"is_logged_in": True, "email": "ada@example.com", "name": "Ada"}
    app.run()
    assert not app.exception
    assert any(c.value == "Signed in as ada@example.com" for c in app.sidebar.caption)
    assert any(b.label == "Sign out" for b in app.button)
    assert _buttons(app) == {"promote": False, "export": False}


def test_promote_and_export_need_a_signed_in_viewer(
    digits_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = digits_study
    monkeypatch.setenv("AUTOML_STORAGE", copy_study(config, tmp_path))

    monkeypatch.setenv(PUBLIC_VARIABLE, "0")  # loopback: nothing to sign in to
    assert _buttons(open_page("app_pages/champion.py")) == {"promote": False, "export": False}

    monkeypatch.setenv(PUBLIC_VARIABLE, "1")  # the network, no sign-in configured
    monkeypatch.delenv(HASH_VARIABLE, raising=False)
    app = open_page("app_pages/champion.py")
    assert _buttons(app) == {"promote": True, "export": True}
    assert any("Read-only" in c.value for c in app.sidebar.caption)

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
