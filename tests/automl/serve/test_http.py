"""What every request passes before a protocol sees it: the Host it names and, for an unsafe
method, whether a web page on another site sent it."""

from __future__ import annotations

import pytest

from automl.serve._http import LOOPBACK_HOSTS, HTTPError, HttpRequest, check_origin, host_name


def _request(method: str = "POST", **headers: str) -> HttpRequest:
    return HttpRequest(
        {
            "type": "http",
            "method": method,
            "path": "/v2/models/m/infer",
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        }
    )


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8080", "127.0.0.1"), ("LocalHost", "localhost"), ("[::1]:80", "::1"),
     ("::1", "::1"), ("models.example.com", "models.example.com")],
)  # fmt: skip
def test_host_names_drop_their_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_a_loopback_server_answers_only_to_loopback_names() -> None:
    check_origin(_request(host="127.0.0.1:8080"), LOOPBACK_HOSTS)
    check_origin(_request(host="localhost:8080"), LOOPBACK_HOSTS)
    with pytest.raises(HTTPError) as refused:  # DNS rebinding: a page's name, our address
        check_origin(_request("GET", host="attacker.example:8080"), LOOPBACK_HOSTS)
    assert refused.value.status == 421 and "attacker.example" in str(refused.value)
    check_origin(_request("GET", host="anything.example"), ("*",))


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # curl, Python clients: no browser headers
        ({"sec_fetch_site": "same-origin"}, False),
        ({"sec_fetch_site": "none"}, False),  # typed into the address bar
        ({"sec_fetch_site": "cross-site"}, True),  # a text/plain form post from another site
        ({"sec_fetch_site": "same-site"}, True),
        ({"origin": "http://127.0.0.1:8080"}, False),
        ({"origin": "https://attacker.example"}, True),  # an older browser: Origin alone
        ({"origin": "null"}, True),  # a sandboxed frame
    ],
)
def test_unsafe_requests_from_other_sites_are_refused(headers: dict, refused: bool) -> None:
    request = _request(host="127.0.0.1:8080", **headers)
    if refused:
        with pytest.raises(HTTPError) as error:
            check_origin(request, LOOPBACK_HOSTS)
        assert error.value.status == 403
    else:
        check_origin(request, LOOPBACK_HOSTS)
    check_origin(_request("GET", host="127.0.0.1:8080", **headers), LOOPBACK_HOSTS)  # safe
