"""Which addresses a source download may connect to: public ones, and others only when named.

Default deny: loopback, private (RFC 1918, ULA), CGNAT, link-local, multicast, unspecified and
reserved addresses are refused unless the operator lists the host in ``ODF_ALLOWED_HOSTS``; cloud
metadata addresses are refused always. IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo) are judged by that address too, so ``::ffff:169.254.169.254``
is the metadata service. The caller connects to the vetted addresses only (no second lookup).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from odf_core.text import quote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

# AWS (IPv4 and IPv6), AWS ECS task metadata, Alibaba, Oracle: never a data source.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """The host may not be contacted; the message says why (it never contains a URL)."""

    def __init__(self, problem: str, retryable: bool = False) -> None:
        super().__init__(problem)
        self.retryable = retryable  # a failed DNS lookup may be transient; a refused address is not


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as text (what ``socket.getaddrinfo`` answers)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if any."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return low32
    return None


def non_public_reason(ip: IPAddress) -> tuple[str, bool] | None:
    """(what kind of address it is, whether naming the host can allow it); None for public addresses.
    An IPv6 address carrying an IPv4 one is judged by both, the stricter verdict winning."""
    found = [_kind(candidate) for candidate in (embedded_ipv4(ip), ip) if candidate is not None]
    found = [verdict for verdict in found if verdict]
    never = [verdict for verdict in found if not verdict[1]]
    return (never or found or [None])[0]


def _kind(ip: IPAddress) -> tuple[str, bool] | None:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address", False
    if ip.is_unspecified:
        return "an unspecified address", False
    if ip.is_multicast:
        return "a multicast address", False
    if ip.is_link_local:
        return "a link-local address", False
    if ip.is_loopback:
        return "a loopback address", True
    if ip.version == 4 and ip in _CGNAT:
        return "a carrier-grade NAT address", True
    if ip.is_private:
        return "a private address", True
    if not ip.is_global:
        return "a reserved address", True
    return None


def vet_host(
    host: str, port: int, allowed_hosts: Sequence[str], resolve: Resolver, allow_link_local: bool = False
) -> list[str]:
    """The addresses of ``host`` a download may connect to, or ``EgressRefused``.

    With an allowlist, the host must be on it; non-public addresses additionally need the host to
    be named there explicitly. One refused address refuses the host: DNS answers can be mixed.
    """
    host = host.lower().rstrip(".")
    named = host in {h.lower().rstrip(".") for h in allowed_hosts}
    if allowed_hosts and not named:
        raise EgressRefused(f"host {quote(host)} is not in the allowlist {sorted(allowed_hosts)} (ODF_ALLOWED_HOSTS)")
    try:
        answers = [host] if _is_ip_literal(host) else list(resolve(host, port))
    except (OSError, UnicodeError) as error:
        raise EgressRefused(f"cannot resolve {quote(host)}: {error}", retryable=True) from None
    if not answers:
        raise EgressRefused(f"{quote(host)} resolves to no address")
    addresses = []
    for answer in answers:
        ip = ipaddress.ip_address(answer.split("%")[0])
        found = non_public_reason(ip)
        if found:
            reason, may_name = found
            if not (named and (may_name or (allow_link_local and reason == "a link-local address"))):
                hint = " unless ODF_ALLOWED_HOSTS names the host" if may_name else ""
                raise EgressRefused(f"{quote(host)} resolves to {ip}, {reason}; refused{hint}")
        addresses.append(str(ip))
    return list(dict.fromkeys(addresses))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
