"""HTTP that cannot be pointed at the inside: the SSRF guard of outbound webhooks (POST) and of the
SMS media the worker fetches (GET, chat/attachments.py).

- only http and https, no credentials in the URL;
- the host is resolved once; if any of its addresses is not a public (global) address —
  loopback, private, link-local (cloud metadata), shared, reserved, multicast, unspecified,
  or an IPv4 address hidden in IPv6 — the request is refused, unless WEBHOOK_ALLOW_PRIVATE;
- the connection goes to the address that was checked (pinned), so a second DNS answer
  cannot swap it; TLS still verifies the certificate against the host name;
- a POST never follows redirects (a 3xx is just an answer); a GET follows a few, each hop
  resolved and checked again; every socket step has a timeout;
- only the start of a POST's answer is read, and at most `max_bytes` of a GET's.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

RESPONSE_EXCERPT_BYTES = 2048


class RefusedDestination(Exception):
    """The URL may not be called (bad scheme, or it resolves to a forbidden address)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the resolved, checked address the connection is pinned to


@dataclass(frozen=True)
class Answer:
    status: int
    body_excerpt: str
    duration_ms: int


def forbidden_reason(address: str) -> str | None:
    """Why this IP address may not be called, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None:
        return forbidden_reason(str(mapped))
    for name in ("is_loopback", "is_private", "is_link_local", "is_reserved", "is_multicast", "is_unspecified"):
        if getattr(ip, name):
            return name.removeprefix("is_").replace("_", "-")
    if not ip.is_global:
        return "not-global"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise RefusedDestination("Only http and https URLs are called.")
    if parts.username or parts.password:
        raise RefusedDestination("Credentials in the URL are not allowed.")
    host = parts.hostname
    if not host:
        raise RefusedDestination("The URL has no host.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise RefusedDestination("The URL has an invalid port.") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """The URL's target with its checked address, or RefusedDestination."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedDestination(f"The host does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise RefusedDestination("The host does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason:
                raise RefusedDestination(f"{host} resolves to a {reason} address ({address}); refused.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return connection_class(target, timeout)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Answer:
    """POST `body` to `url` through the guard; the answer whatever its status (3xx included)."""
    target = resolve(url)
    timeout = timeout if timeout is not None else settings.WEBHOOK_TIMEOUT_SECONDS
    connection = _connection(target, timeout)
    started = time.monotonic()
    try:
        connection.request("POST", target.path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT_BYTES).decode("utf-8", "replace")
        return Answer(response.status, excerpt, int((time.monotonic() - started) * 1000))
    finally:
        connection.close()


class TooLarge(Exception):
    """The answer is longer than the caller accepts."""


@dataclass(frozen=True)
class Download:
    status: int
    content_type: str
    body: bytes


REDIRECTS_MAX = 3


def get(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    redirects: int = REDIRECTS_MAX,
) -> Download:
    """GET `url` through the guard, following at most `redirects` redirects (each target checked
    again, and credentials never sent to another host); TooLarge past `max_bytes`."""
    first_host = urlsplit(url).hostname
    for _hop in range(redirects + 1):
        target = resolve(url, allow_private=allow_private)
        sent = dict(headers or {}) if target.host == first_host else {}
        connection = _connection(target, timeout)
        try:
            connection.request("GET", target.path, headers=sent)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{declared} bytes")
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise TooLarge(f"over {max_bytes} bytes")
            return Download(response.status, response.getheader("Content-Type") or "", body)
        finally:
            connection.close()
    raise RefusedDestination("Too many redirects.")
