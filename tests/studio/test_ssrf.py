"""The egress guard refuses every non-public address, however it is spelled (pure Python, no DB)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from studio.lib.ssrf import EgressRefused, address_refusal, check_url, normalize_host, parse_url


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: ``dns["name"] = ["1.2.3.4", ...]``; unknown names fail like NXDOMAIN."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        name = host.rstrip(".").lower() if isinstance(host, str) else host
        if name in table:
            out = []
            for address in table[name]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
                out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if any(c.isalpha() for c in host.replace("0x", "")) and host not in ("localhost", "localhost."):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.2:8080/x",
        "http://2130706433/",  # decimal
        "http://0x7f000001/",  # hex
        "http://0x7f.1/",  # mixed hex, short form
        "http://0177.0.0.1/",  # octal
        "http://017700000001/",  # octal, one number
        "http://127.1/",  # short form
        "http://0/",  # 0.0.0.0
        "http://0.0.0.0:8000/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[::ffff:0:127.0.0.1]/",  # IPv4-translated
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "http://[64:ff9b:1::a00:1]/",  # local-use NAT64
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",  # with a zone id
        "http://[fc00::1]/",
        "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
        "http://[fec0::1]/",  # site-local
        "http://[ff02::1]/",  # multicast
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://100.100.100.200/latest/meta-data/",
        "http://169.254.1.1/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # shared address space
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://240.0.0.1/",  # reserved
        "http://255.255.255.255/",
        "http://198.18.0.1/",  # benchmarking
        "http://192.0.0.192/",  # Oracle Cloud metadata
        "https://127.0.0.1:443/",
        "HTTP://127.0.0.1/",
    ],
)
def test_refuses_every_spelling_of_a_non_public_address(dns, url):
    with pytest.raises(EgressRefused) as caught:
        check_url(url, allowed_hosts=[])
    assert isinstance(caught.value, PermissionError)
    assert "not allowed" in str(caught.value)


@pytest.mark.parametrize("name", ["localhost", "localhost.", "LOCALHOST", "evil.example", "evil.example."])
def test_refuses_names_that_resolve_to_loopback(dns, name):
    dns["evil.example"] = ["127.0.0.1"]
    with pytest.raises(EgressRefused, match=r"resolves to 127\.0\.0\.1"):
        check_url(f"http://{name}/", allowed_hosts=[])


def test_refuses_when_any_resolved_address_is_private(dns):
    dns["mixed.example"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(EgressRefused, match=r"10\.1\.2\.3.*private"):
        check_url("https://mixed.example/", allowed_hosts=[])


def test_refuses_a_name_resolving_to_an_ipv4_mapped_loopback(dns):
    dns["mapped.example"] = ["::ffff:127.0.0.1"]
    with pytest.raises(EgressRefused, match="IPv4-mapped"):
        check_url("https://mapped.example/", allowed_hosts=[])


def test_metadata_addresses_are_named_as_such(dns):
    dns["meta.example"] = ["169.254.169.254"]
    with pytest.raises(EgressRefused, match="cloud metadata"):
        check_url("http://meta.example/", allowed_hosts=[])


def test_public_addresses_pass_and_every_resolved_address_is_returned(dns):
    dns["api.example"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]
    assert check_url("https://api.example/v1?q=1", allowed_hosts=[]) == [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
    ]
    assert check_url("http://8.8.8.8/", allowed_hosts=[]) == [ipaddress.ip_address("8.8.8.8")]
    # IPv6 forms of a *public* IPv4 address are public too (NAT64 networks use them).
    assert check_url("http://[64:ff9b::808:808]/", allowed_hosts=[]) == [ipaddress.ip_address("64:ff9b::808:808")]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9000/", ["127.0.0.1:9000"]),
        ("http://localhost/", ["LocalHost"]),
        ("http://localhost./", ["localhost"]),
        ("https://Intranet.Example/", ["intranet.example."]),
        ("http://[::1]:81/", ["[::1]:81"]),
        ("http://[::1]/", ["::1"]),
    ],
)
def test_an_allowed_host_may_resolve_to_a_private_address(dns, url, allowed):
    dns["intranet.example"] = ["10.0.0.5"]
    assert check_url(url, allowed_hosts=allowed)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://2130706433/", ["127.0.0.1"]),  # another spelling is another host
        ("http://127.0.0.2/", ["127.0.0.1"]),
        ("http://sub.intranet.example/", ["intranet.example"]),  # no wildcard
        ("http://intranet.example.evil.example/", ["intranet.example"]),
        ("http://[::ffff:127.0.0.1]/", ["127.0.0.1"]),
        ("http://127.0.0.1:9000/", ["127.0.0.1"]),  # no port: 80 and 443 only
        ("http://127.0.0.1:9000/", ["127.0.0.1:9001"]),
        ("http://[::1]:81/", ["[::1]"]),
    ],
)
def test_the_allow_list_matches_hosts_exactly(dns, url, allowed):
    dns["sub.intranet.example"] = ["10.0.0.6"]
    dns["intranet.example.evil.example"] = ["10.0.0.7"]
    with pytest.raises(EgressRefused):
        check_url(url, allowed_hosts=allowed)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("//example.com/", "scheme"),
        ("example.com", "scheme"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://127.0.0.1#@example.com/", "not allowed"),  # the fragment does not hide the host
        ("http://127.0.0.1\\@example.com/", "backslash"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com\r\nHost: x/", "whitespace"),
        ("http:///path", "no host"),
        ("http://[::1/", "invalid URL"),
        ("http://example.com:99999/", "invalid URL"),
        ("http://08.1/", "neither a hostname"),
        ("http://%31%32%37.0.0.1/", "not a valid hostname"),
        ("http://exa_mple..com/", "not a valid hostname"),
        ("", "empty"),
    ],
)
def test_malformed_and_tricky_urls_are_refused_with_a_reason(dns, url, message):
    with pytest.raises(EgressRefused, match=message):
        check_url(url, allowed_hosts=["example.com"])


def test_an_unresolvable_host_is_a_connection_error_not_a_refusal(dns):
    with pytest.raises(ConnectionError, match="cannot resolve"):
        check_url("https://no-such-host.invalid/", allowed_hosts=[])


def test_parse_url_normalizes_host_and_port():
    assert parse_url("HTTPS://Example.COM./a") == ("https", "example.com", 443)
    assert parse_url("http://[::1]:8080/") == ("http", "::1", 8080)
    assert parse_url("http://bücher.example/") == ("http", "xn--bcher-kva.example", 80)
    assert normalize_host("[FE80::1]") == "fe80::1"


def test_address_refusal_judges_single_addresses():
    assert address_refusal(ipaddress.ip_address("1.1.1.1")) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"
    assert address_refusal(ipaddress.ip_address("::ffff:10.0.0.1")) == "IPv4-mapped form of 10.0.0.1, private"
    assert address_refusal(ipaddress.ip_address("fd00:ec2::254")) == "cloud metadata"
