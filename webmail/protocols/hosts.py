"""Which upstream addresses the server may contact on a user's behalf (pure, no Django).

A user types a host name; we must not let that turn into a request to our own network (SSRF).
Every address the name resolves to is checked at connect time, every time: public addresses are
allowed, anything else (loopback, private, link-local, shared, reserved, multicast, and the same
addresses hidden inside IPv6 forms) only when the operator allows the name or address. An
organisation's list can only narrow that. The caller then connects to the checked address, not
to the name again, so a second DNS answer cannot swap in another address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from webmail.protocols.errors import HostNotAllowed, UnreachableError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Rule = str | Network

_MAX_NAME = 253
_MAX_LABEL = 63


def _net4(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def _net6(text: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(text)


# Not public, with the reason a user is shown. Python's own is_global is incomplete on 3.11
# (it calls multicast, 6to4 and site-local addresses global), so the table is explicit and
# anything it misses still has to pass is_global (IPv4) or sit in 2000::/3 (IPv6).
_IPV4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_net4("0.0.0.0/8"), "unspecified"),
    (_net4("10.0.0.0/8"), "private"),
    (_net4("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_net4("127.0.0.0/8"), "loopback"),
    (_net4("169.254.0.0/16"), "link-local"),
    (_net4("172.16.0.0/12"), "private"),
    (_net4("192.0.0.0/24"), "reserved"),
    (_net4("192.0.2.0/24"), "documentation"),
    (_net4("192.88.99.0/24"), "reserved"),
    (_net4("192.168.0.0/16"), "private"),
    (_net4("198.18.0.0/15"), "reserved"),
    (_net4("198.51.100.0/24"), "documentation"),
    (_net4("203.0.113.0/24"), "documentation"),
    (_net4("224.0.0.0/4"), "multicast"),
    (_net4("240.0.0.0/4"), "reserved"),
)
_IPV6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_net6("::/128"), "unspecified"),
    (_net6("::1/128"), "loopback"),
    (_net6("::/96"), "reserved"),  # IPv4-compatible addresses (deprecated, RFC 4291 2.5.5.1)
    (_net6("::ffff:0:0:0/96"), "reserved"),  # IPv4-translated (RFC 2765)
    (_net6("64:ff9b:1::/48"), "reserved"),  # local-use NAT64 (RFC 8215)
    (_net6("100::/64"), "reserved"),  # discard-only (RFC 6666)
    (_net6("2001::/23"), "reserved"),  # IETF protocol assignments, includes Teredo
    (_net6("2001:db8::/32"), "documentation"),
    (_net6("3fff::/20"), "documentation"),
    (_net6("5f00::/16"), "reserved"),  # SRv6 SIDs (RFC 9602)
    (_net6("fc00::/7"), "private"),  # unique local
    (_net6("fe80::/10"), "link-local"),
    (_net6("fec0::/10"), "private"),  # site-local (deprecated)
    (_net6("ff00::/8"), "multicast"),
)
_IPV6_GLOBAL_UNICAST = _net6("2000::/3")
_NAT64 = _net6("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_SIXTOFOUR = _net6("2002::/16")  # RFC 3056: bits 16-48 are an IPv4 address


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64 or 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("loopback", "private", ...), or None if it is."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        problem = address_problem(inner)
        if problem is None:
            return None
        mapped = isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None
        return f"{'IPv4-mapped' if mapped else 'IPv6-embedded'} {problem}"
    if isinstance(ip, ipaddress.IPv4Address):
        for net4, reason in _IPV4_BLOCKS:
            if ip in net4:
                return reason
        return None if ip.is_global else "reserved"
    plain = ipaddress.IPv6Address(int(ip))  # without a %scope, which `in` would not match
    for net6, reason in _IPV6_BLOCKS:
        if plain in net6:
            return reason
    return None if plain in _IPV6_GLOBAL_UNICAST else "reserved"


def is_loopback(ip: IPAddress) -> bool:
    """127/8 or ::1, including the IPv4-mapped form of 127/8."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def normalise_host(host: str) -> str:
    """Lower-case ASCII (IDNA) form of a host name, or the bare text of an IP literal.

    Raises ValueError for anything that is neither a valid name nor an address.
    """
    text = host.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    ip = _ip_or_none(bare)
    if ip is not None:
        return bare.lower()
    name = text.lower().rstrip(".")
    if not name:
        raise ValueError("empty host name")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{host!r} is not a valid host name") from exc
    _check_name(ascii_name, host)
    return ascii_name


def _check_name(name: str, original: str) -> None:
    labels = name.split(".")
    valid = len(name) <= _MAX_NAME and all(
        label
        and len(label) <= _MAX_LABEL
        and not label.startswith("-")
        and not label.endswith("-")
        and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in label)
        for label in labels
    )
    if not valid:
        raise ValueError(f"{original!r} is not a valid host name")
    if labels[-1].isdigit():
        # "10.1" or "3232235777" would be read as an address by some resolvers.
        raise ValueError(f"{original!r} is neither a valid host name nor an IP address")


def parse_rule(text: str) -> Rule:
    """A rule is a host name ("imap.example.org"), a domain suffix (".example.org", matching the
    domain and every name under it), or an IP address or CIDR network ("10.0.0.0/8", "fd00::/8").

    Raises ValueError with a message naming the rule.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty host rule")
    bare = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if "/" in bare or ":" in bare or bare.replace(".", "").isdigit():
        try:
            return ipaddress.ip_network(bare, strict=False)
        except ValueError as exc:
            raise ValueError(f"host rule {raw!r} is not a valid IP address or network") from exc
    suffix = bare.startswith(".")
    try:
        name = normalise_host(bare[1:] if suffix else bare)
    except ValueError as exc:
        raise ValueError(
            f"host rule {raw!r} is not a host name, domain (.example.org) or network (10.0.0.0/8)"
        ) from exc
    return "." + name if suffix else name


def _unwrap(ip: IPAddress) -> list[IPAddress]:
    inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(int(ip))
    return [ip] if inner is None else [ip, inner]


def host_matches(host: str, address: str | None, rules: Iterable[str]) -> bool:
    """True if the host name, or the address it resolved to, matches one of ``rules``.

    Name rules match the name only; network rules match the address (and the host itself when it
    is an IP literal), including the IPv4 address inside an IPv4-mapped IPv6 address.
    """
    try:
        name = normalise_host(host)
    except ValueError:
        name = ""
    ips: list[IPAddress] = []
    for candidate in (address, name):
        ip = _ip_or_none(candidate) if candidate else None
        if ip is not None:
            ips.extend(_unwrap(ip))
    for raw in rules:
        rule = parse_rule(raw)
        if isinstance(rule, str):
            if not name:
                continue
            if rule.startswith("."):
                if name == rule[1:] or name.endswith(rule):
                    return True
            elif name == rule:
                return True
        elif any(ip.version == rule.version and ip in rule for ip in ips):
            return True
    return False


@dataclass(frozen=True)
class HostPolicy:
    """Operator rules widen (allow named non-public hosts); organisation rules only narrow."""

    operator_rules: tuple[str, ...] = ()
    org_rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept any iterable but store tuples (hashable, immutable); refuse bad rules up front
        # so a typo in the operator's configuration fails at start-up, not at the first login.
        object.__setattr__(self, "operator_rules", tuple(self.operator_rules))
        object.__setattr__(self, "org_rules", tuple(self.org_rules))
        for rule in (*self.operator_rules, *self.org_rules):
            parse_rule(rule)


def check_address(host: str, address: str, policy: HostPolicy, *, plaintext: bool) -> None:
    """Raise HostNotAllowed unless ``host`` may be contacted at ``address`` under ``policy``."""
    ip = _ip_or_none(address)
    if ip is None:
        raise HostNotAllowed(f"{host} resolved to {address!r}, which is not an IP address")
    problem = address_problem(ip)
    if problem is not None and not host_matches(host, address, policy.operator_rules):
        raise HostNotAllowed(
            f"{host} resolves to {address}, a {problem} address; the server's operator has not "
            "allowed connections to it"
        )
    if policy.org_rules and not host_matches(host, address, policy.org_rules):
        raise HostNotAllowed(
            f"{host} ({address}) is not on your organisation's list of allowed mail servers"
        )
    if plaintext and not is_loopback(ip):
        raise HostNotAllowed(
            f"{host} resolves to {address}; connections without TLS are only allowed to this "
            "machine (loopback)"
        )


def resolve_allowed(host: str, port: int, policy: HostPolicy, *, plaintext: bool) -> list[str]:
    """Resolve ``host`` now and return its addresses, if every one of them is allowed.

    One refused address refuses the host: a name that mixes public and private answers is
    exactly what a rebinding attack looks like. Raises HostNotAllowed, or UnreachableError when
    the name does not resolve.
    """
    if not 0 < port < 65536:
        raise HostNotAllowed(f"port {port} is out of range")
    try:
        name = normalise_host(host)
    except ValueError as exc:
        raise HostNotAllowed(str(exc)) from exc
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnreachableError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    except (UnicodeError, ValueError) as exc:
        raise HostNotAllowed(f"{host!r} is not a valid host name") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnreachableError(f"{host} has no addresses")
    for address in addresses:
        check_address(name, address, policy, plaintext=plaintext)
    return addresses


__all__ = [
    "HostPolicy",
    "address_problem",
    "check_address",
    "embedded_ipv4",
    "host_matches",
    "is_loopback",
    "normalise_host",
    "parse_rule",
    "resolve_allowed",
]
