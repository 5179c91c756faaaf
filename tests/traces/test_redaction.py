"""Redaction of secrets from span payloads."""

from __future__ import annotations

import pytest

from traces.redaction import REDACTED, redact, redact_text


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("key sk-proj-AbCdEf1234567890xyz here", "sk-proj-AbCdEf1234567890xyz"),
        ("studio key sk_abcdefghijklmnopqrstuvwxyz0123", "sk_abcdefghijklmnopqrstuvwxyz0123"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
        ("https://x.test/?api_key=abc123def&q=1", "abc123def"),
        ('{"password": "s3cr3t!"}', "s3cr3t!"),
    ],
)
def test_credential_patterns_are_redacted(text, leaked):
    out = redact_text(text)

    assert leaked not in out and REDACTED in out


def test_known_secret_values_are_redacted_anywhere_in_a_structure():
    payload = {
        "messages": [{"role": "user", "content": "token=ignored and plain value: opensesame-42!"}],
        "params": {"stop": ["opensesame-42!"]},
        "nested": ("opensesame-42!", 3, None, True),
    }

    out = redact(payload, secrets=["opensesame-42!"])

    assert "opensesame-42!" not in repr(out)
    assert out["nested"] == [REDACTED, 3, None, True]


def test_longer_secrets_are_replaced_before_the_secrets_they_contain():
    out = redact_text("abcd-efgh-ijkl", secrets=["abcd", "abcd-efgh-ijkl"])

    assert out == REDACTED


def test_very_short_secret_values_are_not_searched_for():
    assert redact_text("a cat sat", secrets=["a", "at"]) == "a cat sat"


def test_values_of_credential_named_keys_are_redacted():
    out = redact({"headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "json"}, "api_key": "k-123"})

    assert out == {"headers": {"Authorization": REDACTED, "Accept": "json"}, "api_key": REDACTED}


def test_ordinary_text_passes_unchanged():
    text = "The capital of France is Paris. Ask for a skeleton key-ring."

    assert redact_text(text) == text


def test_encoded_forms_of_a_known_value_are_redacted():
    import base64
    import json
    from urllib.parse import quote

    value = 'p@ss "w/rd" 42'
    texts = [
        json.dumps({"echo": value}),
        quote(value, safe=""),
        base64.b64encode(f"user:{value}".encode()).decode(),  # basic auth built by anyone
        base64.b64encode(f"u:{value}".encode()).decode(),
        base64.b64encode(f"us:{value}".encode()).decode(),
    ]

    for text in texts:
        assert REDACTED in redact_text(text, secrets=[value]), text


def test_a_redactor_without_patterns_leaves_credential_lookalikes_and_redacts_keys():
    from traces.redaction import Redactor

    redactor = Redactor(["opensesame-42"])
    out = redactor.value({"password": "kept: this is run data", "opensesame-42": ["sk-abcdefghijklmnop"]})

    assert out == {"password": "kept: this is run data", REDACTED: ["sk-abcdefghijklmnop"]}
    assert "opensesame" not in repr(redactor)


def test_a_secret_holding_json_headers_redacts_each_header_value():
    from traces.redaction import Redactor

    redactor = Redactor(
        [
            '{"X-Api-Key": "Key-Of-The-MCP-Server", "Authorization": "Bearer tok3n-abc-XYZ", "Accept": "application/json"}'
        ]
    )

    assert redactor.text("echo: Key-Of-The-MCP-Server") == f"echo: {REDACTED}"
    assert redactor.text("token tok3n-abc-XYZ") == f"token {REDACTED}"  # the token alone, after its scheme
    assert redactor.text("accept: application/json") == "accept: application/json"  # a plain header value


def test_pending_prefix_is_the_end_that_could_start_a_secret():
    from traces.redaction import Redactor

    redactor = Redactor(["supersecret"])

    assert redactor.pending_prefix("the key is supe") == 4
    assert redactor.pending_prefix("nothing here") == 0
