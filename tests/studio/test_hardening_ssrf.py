"""One egress rule for validate, publish and run (issue 7, items 10 and 15).

``studio.lib.ssrf`` (the run-time guard) and the engine's static check
(``agents.engine.nodes.netguard``, which may not import ``studio``) must
agree on every literal host, every port and every allow-list entry.
"""

from __future__ import annotations

import pytest

from agents.engine import validate_graph
from agents.engine.nodes import netguard
from studio.lib.ssrf import (
    EgressRefused,
    address_refusal,
    check_url,
    host_allowed,
    normalize_allow_entry,
    parse_allow_entry,
)
from studio.lib.ssrf import _literal_ip as literal_ip


@pytest.mark.parametrize(
    ("entry", "canonical"),
    [
        ("Intranet.Example.", "intranet.example"),
        ("10.0.0.5:8080", "10.0.0.5:8080"),
        ("[FD00::5]:8443", "[fd00::5]:8443"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("bücher.example:81", "xn--bcher-kva.example:81"),
    ],
)
def test_allow_list_entries_may_name_a_port(entry, canonical):
    assert normalize_allow_entry(entry) == canonical
    assert netguard.parse_allow_entry(entry) == parse_allow_entry(entry)


@pytest.mark.parametrize(
    "entry", ["http://intranet.example", "intranet.example/x", "10.0.0.5:0", "10.0.0.5:99999", "a@b", "[::1", "::1:x:"]
)
def test_malformed_entries_are_refused(entry):
    with pytest.raises(ValueError):
        normalize_allow_entry(entry)
    with pytest.raises(ValueError):
        netguard.parse_allow_entry(entry)


@pytest.mark.parametrize(
    ("host", "port", "entries", "allowed"),
    [
        ("10.0.0.5", 80, ["10.0.0.5"], True),
        ("10.0.0.5", 443, ["10.0.0.5"], True),
        ("10.0.0.5", 8080, ["10.0.0.5"], False),  # an entry without a port opens 80 and 443 only
        ("10.0.0.5", 8080, ["10.0.0.5:8080"], True),
        ("10.0.0.5", 80, ["10.0.0.5:8080"], False),  # an entry with a port opens that port only
        ("10.0.0.5", 6379, ["10.0.0.5:8080", "10.0.0.5"], False),
        ("::1", 8443, ["[::1]:8443"], True),
        ("::1", 8443, ["::1"], False),
        ("10.0.0.6", 80, ["10.0.0.5"], False),
    ],
)
def test_one_allow_rule_for_the_runtime_and_the_static_check(host, port, entries, allowed):
    assert host_allowed(host, port, entries) is allowed
    with netguard.allowed_hosts(entries):
        assert (netguard.forbidden_host_reason(host, port) is None) is allowed


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.5", "169.254.169.254", "100.64.0.1", "0.0.0.0",  # noqa: S104
        "2130706433", "0x7f.1", "0x7f000001", "017700000001", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
        "fd00:ec2::254", "64:ff9b::7f00:1", "::127.0.0.1", "2002:7f00:1::", "fec0::1", "ff02::1", "224.0.0.1",
        "93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::808:808", "::ffff:8.8.8.8",
        "240.0.0.1", "198.18.0.1", "192.0.2.1",
    ],
)  # fmt: skip
def test_the_static_check_refuses_exactly_the_literal_addresses_the_runtime_refuses(host):
    ip = literal_ip(host)
    assert ip is not None
    runtime_refuses = address_refusal(ip) is not None
    assert (netguard.forbidden_host_reason(host) is not None) is runtime_refuses
    url = f"http://[{host}]/" if ":" in host else f"http://{host}/"
    if runtime_refuses:
        with pytest.raises(EgressRefused):
            check_url(url)
    else:
        assert check_url(url) == [ip]


@pytest.mark.parametrize("url", ["http:/x", "https:/x/y", "http:x", "http:", "https:/", "http:///x", "http://:80/"])
def test_a_malformed_http_url_is_a_validation_issue_not_an_exception(url):
    doc = {
        "schema": 1,
        "nodes": [
            {"id": "in", "type": "input", "label": "In", "config": {"fields": [{"name": "q"}]}},
            {"id": "call", "type": "http", "label": "Call", "config": {"url": url, "inputs": [{"name": "q"}]}},
            {"id": "out", "type": "output", "label": "Out", "config": {"fields": [{"name": "a", "type": "object"}]}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "source_port": "q", "target": "call", "target_port": "q"},
            {"id": "e2", "source": "call", "source_port": "body", "target": "out", "target_port": "a"},
        ],
    }

    issues = validate_graph(doc)

    assert [(issue.node_id, "URL" in issue.message or "host" in issue.message) for issue in issues] == [("call", True)]
    with pytest.raises(EgressRefused):
        check_url(url)
