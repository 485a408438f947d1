"""Who may change things in a dashboard reachable from the network. No Streamlit here.

Off loopback the dashboard is read-only until the viewer signs in: with Streamlit's own
``st.login`` when an OIDC provider is configured in ``.streamlit/secrets.toml`` ([auth]),
otherwise with a password whose scrypt hash is in AUTOML_DASHBOARD_PASSWORD_HASH (make one
with ``automl hash-password``). Without either, nobody can promote or export from it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys

PUBLIC_VARIABLE = "AUTOML_DASHBOARD_PUBLIC"
HASH_VARIABLE = "AUTOML_DASHBOARD_PASSWORD_HASH"
_N, _R, _P = 2**14, 8, 1  # scrypt's interactive-login cost: about 50 ms a check


def is_public() -> bool:
    """Set by ``automl dashboard`` when it binds an address other than loopback."""
    return os.environ.get(PUBLIC_VARIABLE) == "1"


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
    "HASH_VARIABLE",
    "PUBLIC_VARIABLE",
    "check_password",
    "is_public",
    "password_configured",
    "password_hash",
]

if __name__ == "__main__":
    sys.exit(main())
