"""Host policy: which upstream addresses may be contacted (no mail server, no database)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmail.protocols.errors import HostNotAllowed, UnreachableError
from webmail.protocols.hosts import (
    HostPolicy,
    address_problem,
    check_address,
    host_matches,
    parse_rule,
    resolve_allowed,
)

OPEN = HostPolicy()


def test_it_parses_names_suffixes_and_networks() -> None:
    assert parse_rule(" IMAP.Example.org. ") == "imap.example.org"
    assert parse_rule(".Example.org") == ".example.org"
    assert parse_rule("10.0.0.0/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_rule("10.1.2.3/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_rule("[fd00::1]") == ipaddress.ip_network("fd00::1/128")
    assert parse_rule("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "rule", ["", "  ", "bad host", "-x.example", "a..b", "10.0.0.0/33", "1.2.3", "x_ y", "a/b"]
)
def test_it_refuses_bad_rules_with_a_clear_message(rule: str) -> None:
    with pytest.raises(ValueError, match="rule"):
        parse_rule(rule)


def test_it_refuses_a_policy_with_a_bad_rule() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        HostPolicy(operator_rules=("mail.example", "not valid"))


def test_it_matches_names_suffixes_networks_and_mapped_addresses() -> None:
    rules = ["imap.example.org", ".corp.example", "10.0.0.0/8", "fd00::/8"]
    assert host_matches("IMAP.example.org.", None, rules)
    assert host_matches("mail.corp.example", None, rules)
    assert host_matches("corp.example", None, rules)
    assert host_matches("mx.other", "10.1.2.3", rules)
    assert host_matches("mx.other", "::ffff:10.1.2.3", rules)
    assert host_matches("fd00::1", None, rules)
    assert host_matches("[fd00::1]", None, rules)
    assert not host_matches("evil-corp.example", None, rules)
    assert not host_matches("corp.example.evil", "192.168.1.1", rules)
    assert not host_matches("smtp.example.org", "192.168.1.1", rules)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("224.0.1.1", "multicast"),  # Python 3.11 calls this global
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%1", "link-local"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),  # site-local; Python 3.11 calls it global
        ("ff0e::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("64:ff9b::7f00:1", "IPv6-embedded loopback"),  # NAT64 of 127.0.0.1
        ("2002:c0a8:101::1", "IPv6-embedded private"),  # 6to4 of 192.168.1.1
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("2001:db8::1", "documentation"),
    ],
)
def test_it_names_why_an_address_is_not_public(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_it_allows_public_addresses(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None
    check_address("mail.example.com", address, OPEN, plaintext=False)


def test_it_refuses_loopback_without_an_operator_rule() -> None:
    with pytest.raises(HostNotAllowed) as info:
        resolve_allowed("127.0.0.1", 993, OPEN, plaintext=False)
    assert "127.0.0.1" in info.value.detail
    assert "loopback" in info.value.detail


def test_it_refuses_a_name_that_resolves_to_loopback() -> None:
    with pytest.raises(HostNotAllowed, match="localhost resolves to 127.0.0.1, a loopback"):
        resolve_allowed("localhost", 993, OPEN, plaintext=False)


def test_it_allows_a_private_host_the_operator_lists() -> None:
    by_address = HostPolicy(operator_rules=("127.0.0.0/8",))
    assert resolve_allowed("127.0.0.1", 993, by_address, plaintext=False) == ["127.0.0.1"]
    by_name = HostPolicy(operator_rules=("localhost",))
    assert "127.0.0.1" in resolve_allowed("localhost", 993, by_name, plaintext=False)
    check_address("mx.corp", "10.1.2.3", HostPolicy(operator_rules=(".corp",)), plaintext=False)


def test_org_rules_narrow_public_hosts() -> None:
    policy = HostPolicy(org_rules=("8.8.8.0/24", ".example.com"))
    check_address("dns.google", "8.8.8.8", policy, plaintext=False)
    check_address("mail.example.com", "93.184.216.34", policy, plaintext=False)
    with pytest.raises(HostNotAllowed, match="organisation"):
        check_address("mail.other.net", "93.184.216.34", policy, plaintext=False)


def test_org_rules_never_widen() -> None:
    policy = HostPolicy(org_rules=("127.0.0.1", "localhost"))
    with pytest.raises(HostNotAllowed, match="operator"):
        resolve_allowed("127.0.0.1", 143, policy, plaintext=False)
    with pytest.raises(HostNotAllowed, match="operator"):
        resolve_allowed("localhost", 143, policy, plaintext=False)


def test_org_rules_narrow_operator_rules() -> None:
    policy = HostPolicy(operator_rules=("10.0.0.0/8",), org_rules=("10.1.0.0/16",))
    check_address("a.corp", "10.1.2.3", policy, plaintext=False)
    with pytest.raises(HostNotAllowed, match="organisation"):
        check_address("b.corp", "10.2.0.1", policy, plaintext=False)


def test_plaintext_is_only_allowed_to_loopback() -> None:
    loopback = HostPolicy(operator_rules=("127.0.0.1", "10.0.0.0/8"))
    assert resolve_allowed("127.0.0.1", 143, loopback, plaintext=True) == ["127.0.0.1"]
    with pytest.raises(HostNotAllowed, match="without TLS"):
        check_address("mx.corp", "10.0.0.5", loopback, plaintext=True)
    with pytest.raises(HostNotAllowed, match="without TLS"):
        check_address("mail.example.com", "8.8.8.8", OPEN, plaintext=True)


def test_every_resolved_address_must_pass() -> None:
    # A name answering with one public and one private address is refused as a whole: that
    # mix is what DNS rebinding looks like. (Checked per address; resolve_allowed loops.)
    check_address("mixed.example", "8.8.8.8", OPEN, plaintext=False)
    with pytest.raises(HostNotAllowed):
        check_address("mixed.example", "192.168.0.1", OPEN, plaintext=False)


def test_it_reports_names_that_do_not_resolve() -> None:
    with pytest.raises(UnreachableError, match=r"cannot resolve nonexistent\.invalid"):
        resolve_allowed("nonexistent.invalid", 993, OPEN, plaintext=False)


@pytest.mark.parametrize("host", ["", "bad host", "a\x00b", "x" * 300, "10.1", "3232235777"])
def test_it_refuses_malformed_host_names(host: str) -> None:
    with pytest.raises(HostNotAllowed):
        resolve_allowed(host, 993, OPEN, plaintext=False)


def test_it_refuses_ports_out_of_range() -> None:
    with pytest.raises(HostNotAllowed, match="port"):
        resolve_allowed("8.8.8.8", 0, OPEN, plaintext=False)
    with pytest.raises(HostNotAllowed, match="port"):
        resolve_allowed("8.8.8.8", 70000, OPEN, plaintext=False)


_NON_PUBLIC = [
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
    )
]


@st.composite
def _non_public_address(draw: st.DrawFn) -> str:
    network = draw(st.sampled_from(_NON_PUBLIC))
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    address = network.network_address + offset
    if isinstance(address, ipaddress.IPv4Address) and draw(st.booleans()):
        return f"::ffff:{address}"  # the same address in IPv4-mapped IPv6 form
    return str(address)


@given(_non_public_address(), st.booleans())
def test_no_private_loopback_or_link_local_address_is_ever_allowed_by_default(
    address: str, plaintext: bool
) -> None:
    with pytest.raises(HostNotAllowed):
        resolve_allowed(address, 993, OPEN, plaintext=plaintext)
