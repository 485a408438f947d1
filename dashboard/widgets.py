"""Small UI pieces shared by the pages."""

from __future__ import annotations

import os

import streamlit as st

from dashboard import auth, data

REFRESH_S = 5


def require_known_host() -> None:
    """Stop every page reached by a host name the dashboard does not answer to: a web page led
    to a loopback dashboard through a rebound DNS name (``auth.host_allowed``)."""
    address = st.context.url or st.context.headers.get("Host")
    allowed = os.environ.get(auth.HOSTS_VARIABLE)
    if not auth.host_allowed(address, st.get_option("server.address"), allowed):
        st.error(
            f"This dashboard does not answer to {address!r}: open it by its own address, or "
            f"list the name in {auth.HOSTS_VARIABLE}."
        )
        st.stop()


def choose_study(label: str = "Study") -> str:
    """A study picker remembered across pages; stops the page when the store has none."""
    data.store()
    names = data.study_names(data.storage_url())
    if not names:
        st.info(
            "**No studies yet.** Start one with `make search TASK=digits`; it appears here "
            "as soon as its first trial is recorded."
        )
        st.stop()
    current = st.session_state.get("study")
    index = names.index(current) if current in names else len(names) - 1
    study = st.sidebar.selectbox(label, names, index=index, key="study_picker")
    st.session_state["study"] = study
    return study


def fmt_pct(value: float | None) -> str:
    return f"{100 * value:.2f}%" if value is not None else "—"


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def _accounts() -> str:
    """The OIDC allowlist: ``[automl] accounts`` in secrets.toml, else the environment's."""
    try:
        listed = st.secrets.get("automl", {}).get("accounts")
    except Exception:  # no secrets.toml
        listed = None
    if isinstance(listed, list | tuple):
        listed = ",".join(listed)
    return listed or os.environ.get(auth.ACCOUNTS_VARIABLE, "")


#: The help of a button shut to a viewer who may not change things.
LOCKED_HELP = "Sign in (in the sidebar) first: this dashboard is open to the network."


def may_change() -> bool:
    """Whether this viewer may promote, evaluate and export. On a dashboard that listens on
    loopback alone, always; otherwise only once signed in (OIDC via st.login, with an account
    on the allowlist, else the dashboard password). Shown in the sidebar; the pages check it
    again where they act, not only in the buttons' state."""
    if not auth.is_public(st.get_option("server.address")):
        return True
    box = st.sidebar.container(border=True)
    if _oidc_configured():
        if st.user.get("is_logged_in"):  # absent, not False, before any sign-in
            who = st.user.get("email") or st.user.get("name")
            allowed = auth.account_allowed(st.user.get("email"), _accounts())
            if allowed:
                box.caption(f"Signed in as {who}")
            else:
                box.caption(
                    f"Signed in as {who}, who is not among the accounts that may change "
                    f"things here ({auth.ACCOUNTS_VARIABLE} or [automl] accounts): read-only."
                )
            box.button("Sign out", on_click=st.logout, key="sign_out")
            return allowed
        box.button("Sign in to promote and export", on_click=st.login, key="sign_in")
        return False
    if not auth.password_configured():
        box.caption(
            "Read-only: this dashboard is open to the network and no sign-in is configured "
            f"({auth.HASH_VARIABLE} or OIDC in secrets.toml)."
        )
        return False
    if st.session_state.get("signed_in"):
        box.caption("Signed in")
        if box.button("Sign out", key="sign_out"):
            st.session_state["signed_in"] = False
            st.rerun()
        return True
    with box.form("sign_in", border=False):
        password = st.text_input("Password to promote and export", type="password")
        if st.form_submit_button("Sign in"):
            wait = auth.THROTTLE.wait_s()
            if wait > 0:
                st.error(f"Too many wrong passwords: try again in {wait:.0f} s.")
            elif auth.check_password(password):
                auth.THROTTLE.succeeded()
                st.session_state["signed_in"] = True
                st.rerun()
            else:
                auth.THROTTLE.failed()
                st.error("Wrong password.")
    return False


def viewer() -> str | None:
    """Who is making a change, as the records say it: the signed-in account, if any."""
    if _oidc_configured() and st.user.get("is_logged_in"):
        return st.user.get("email") or st.user.get("name")
    return "password sign-in" if st.session_state.get("signed_in") else None
