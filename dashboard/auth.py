"""Who may change things in a dashboard reachable from the network. No Streamlit here.

The dashboard is public unless its server listens on loopback alone, however it was started
(``automl dashboard``, or ``streamlit run`` whose default is every interface). A public one is
read-only until the viewer signs in: with Streamlit's own ``st.login`` when an OIDC provider is
configured in ``.streamlit/secrets.toml`` ([auth]), and then only accounts on the allowlist
(ACCOUNTS_VARIABLE); otherwise with a password whose scrypt hash is in
AUTOML_DASHBOARD_PASSWORD_HASH (make one with ``automl hash-password``), wrong guesses slowed
down. Without either, nobody can promote or export from it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import sys
import threading
import time
from urllib.parse import urlsplit

#: "1" makes a dashboard public (read-only until sign-in) whatever address it listens on.
PUBLIC_VARIABLE = "AUTOML_DASHBOARD_PUBLIC"
HASH_VARIABLE = "AUTOML_DASHBOARD_PASSWORD_HASH"
#: The host names the dashboard answers to, comma-separated (``*``: any). Unset: the loopback
#: names when it listens on loopback (a page led there by a rebound DNS name is refused), any
#: name otherwise (the sign-in guards what can change).
HOSTS_VARIABLE = "AUTOML_DASHBOARD_HOSTS"
#: With OIDC: the accounts that may change things, comma-separated e-mail addresses and
#: ``@domain`` entries (``[automl] accounts`` in secrets.toml does the same). Empty: none.
ACCOUNTS_VARIABLE = "AUTOML_DASHBOARD_ACCOUNTS"
_N, _R, _P = 2**14, 8, 1  # scrypt's interactive-login cost: about 50 ms a check


def is_public(server_address: str | None) -> bool:
    """Whether the dashboard's server can be reached from the network: it listens on an
    address other than loopback, or on every interface (no address: Streamlit's default)."""
    if os.environ.get(PUBLIC_VARIABLE) == "1":
        return True
    address = (server_address or "").strip().strip("[]")
    if address == "localhost":
        return False
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:  # empty (every interface) or a host name: public
        return True


def host_allowed(address: str | None, server_address: str | None, allowed: str | None) -> bool:
    """Whether the page was reached by a host name the dashboard answers to. ``address``: the
    URL the browser shows (or a Host header); none (no browser): nothing to check."""
    if not address:
        return True
    host = urlsplit(address if "//" in address else f"//{address}").hostname or ""
    names = {name.strip().lower().strip("[]") for name in (allowed or "").split(",")}
    names.discard("")
    if not names:
        if is_public(server_address):
            return True
        names = {"localhost", "127.0.0.1", "::1"}
    return "*" in names or host in names


def account_allowed(email: str | None, accounts: str | None) -> bool:
    """Whether a signed-in account is on the allowlist: ``a@example.com`` or ``@example.com``
    entries, compared without case. No list: nobody (an OIDC provider knows more accounts
    than should change a study)."""
    if not email or "@" not in email:
        return False
    email = email.strip().lower()
    domain = "@" + email.rsplit("@", 1)[1]
    allowed = {entry.strip().lower() for entry in (accounts or "").split(",") if entry.strip()}
    return email in allowed or domain in allowed


class SignInThrottle:
    """Wrong passwords slow the next attempts, for every viewer of the process at once (a
    guesser opens as many sessions as it likes): after FREE wrong ones, each next attempt
    waits twice as long as the one before, up to MAX_WAIT_S; a right one resets it."""

    FREE = 3
    MAX_WAIT_S = 300.0

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._next_at = 0.0

    def wait_s(self) -> float:
        """Seconds before the next attempt is heard (0: now)."""
        with self._lock:
            return max(0.0, self._next_at - self._clock())

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures > self.FREE:
                wait = min(self.MAX_WAIT_S, 2.0 ** (self._failures - self.FREE))
                self._next_at = self._clock() + wait

    def succeeded(self) -> None:
        with self._lock:
            self._failures, self._next_at = 0, 0.0


#: The process's one throttle: every session's attempts count together.
THROTTLE = SignInThrottle()


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, encoded: str | None = None) -> bool:
    """True when ``password`` matches ``encoded`` (default: the configured hash); compared in
    constant time. A malformed or missing hash matches nothing."""
    encoded = encoded if encoded is not None else os.environ.get(HASH_VARIABLE, "")
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def password_configured() -> bool:
    return bool(os.environ.get(HASH_VARIABLE))


MIN_PASSWORD_LENGTH = 8


def main() -> int:
    """``automl hash-password``: read a password (prompted on a terminal, else one line of
    stdin) and print the shell line that sets its hash; exit 2 for a short one."""
    import getpass

    password = (
        getpass.getpass("dashboard password: ") if sys.stdin.isatty() else sys.stdin.readline()
    ).rstrip("\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        print(
            f"automl: error: use a password of {MIN_PASSWORD_LENGTH} characters or more",
            file=sys.stderr,
        )
        return 2
    print(f"export {HASH_VARIABLE}='{password_hash(password)}'")
    return 0


__all__ = [
    "ACCOUNTS_VARIABLE",
    "HASH_VARIABLE",
    "HOSTS_VARIABLE",
    "PUBLIC_VARIABLE",
    "THROTTLE",
    "SignInThrottle",
    "account_allowed",
    "check_password",
    "host_allowed",
    "is_public",
    "password_configured",
    "password_hash",
]

if __name__ == "__main__":
    sys.exit(main())
