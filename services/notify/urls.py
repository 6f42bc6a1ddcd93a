"""Where a notification may be sent: http/https only, and no private, loopback, link-local or other
non-public address unless an admin allowed it for that channel (checked again at every delivery, so a
name that later resolves to an internal address is refused then too). And where a notification links
to: `absolute` makes a page path (`/monitor?alert=7`) a link the reader can click in a mail or a chat,
on the UI's public address (LOOPDECK_PUBLIC_URL)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from services.core import config
from services.core.errors import InvalidInput

MAX_URL = 2000


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"The host {host!r} does not resolve ({exc}).") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_global and not (addr.is_private or addr.is_loopback or addr.is_link_local
                                   or addr.is_multicast or addr.is_reserved or addr.is_unspecified)  # fmt: skip


def check_webhook_url(url: str, allow_private: bool = False) -> str:
    """The URL, if a webhook may be sent there; InvalidInput saying why not."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise InvalidInput(f"Give a webhook URL of at most {MAX_URL} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"A webhook URL must start with http:// or https://, not {parts.scheme or 'nothing'}.")
    if not parts.hostname:
        raise InvalidInput("The webhook URL has no host.")
    if parts.username or parts.password:
        raise InvalidInput("Put no user or password in the webhook URL: the secret signs each message.")
    if not allow_private:
        blocked = [str(a) for a in _addresses(parts.hostname) if not is_public(a)]
        if blocked:
            raise InvalidInput(
                f"{parts.hostname} resolves to a private, loopback or link-local address ({blocked[0]}); "
                "an admin may allow that with --allow-private."
            )
    return url


def absolute(link: str) -> str:
    """A page path on the UI's public address; a link that is already absolute (or empty) stays as it is."""
    link = (link or "").strip()
    if not link or urlsplit(link).scheme:
        return link
    return f"{config.public_url()}/{link.lstrip('/')}"
