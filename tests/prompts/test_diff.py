"""Word-level diff of prompt versions: the pure function and the page."""

from __future__ import annotations

from typing import Any

from django.test import Client

from prompts.diff import messages_diff, word_diff
from prompts.services import prompt_create, prompt_version_commit


def test_word_diff_marks_only_the_changed_words() -> None:
    pieces = word_diff("Write a short brief about {{ topic }}.", "Write a long brief about {{ topic }}.")
    assert ("delete", "short") in pieces and ("insert", "long") in pieces
    assert "".join(text for op, text in pieces if op != "insert") == "Write a short brief about {{ topic }}."
    assert "".join(text for op, text in pieces if op != "delete") == "Write a long brief about {{ topic }}."


def test_a_message_on_one_side_only_is_all_inserted() -> None:
    diff = messages_diff(
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}],
    )
    assert diff[0].pieces == [("equal", "Hi")]
    assert (diff[1].old_role, diff[1].new_role, diff[1].pieces) == (None, "assistant", [("insert", "Hello there")])


def test_diff_page_shows_the_two_versions_words(project: Any, alice: Any, bob: Any) -> None:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hello {{ name }}"}], variables=["name"]
    )
    prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "Goodbye {{ who }}"}], variables=["who"]
    )
    client = Client()
    client.force_login(bob)
    body = client.get("/p/acme/prompts/greeting/diff/").content.decode()
    assert "<del>Hello</del><ins>Goodbye</ins>" in body
    assert '<del class="mono">name</del>' in body and '<ins class="mono">who</ins>' in body
    assert client.get("/p/acme/prompts/greeting/diff/", {"a": "7", "b": "1"}).status_code == 404


def test_diff_page_escapes_what_a_version_says(project: Any, alice: Any, bob: Any) -> None:
    prompt = prompt_create(project=project, user=alice, name="Greeting")
    prompt_version_commit(prompt=prompt, user=alice, messages=[{"role": "user", "content": "Hello"}], variables=[])
    prompt_version_commit(
        prompt=prompt, user=alice, messages=[{"role": "user", "content": "<script>alert(1)</script>"}], variables=[]
    )
    client = Client()
    client.force_login(bob)
    body = client.get("/p/acme/prompts/greeting/diff/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
