from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.engine import FieldSpec, Signature, SignatureError, is_compatible


def sig(*fields: dict) -> Signature:
    return Signature([FieldSpec.model_validate(f) for f in fields])


def test_json_schema_lists_properties_in_order_with_required_descriptions_and_enum():
    signature = sig(
        {"name": "answer", "type": "str", "description": "The answer"},
        {"name": "confidence", "type": "float", "required": False, "default": 0.5},
        {"name": "tone", "type": "enum", "choices": ["calm", "angry"]},
        {"name": "tags", "type": "list", "items": "str"},
        {"name": "extra", "type": "object"},
    )

    schema = signature.json_schema()

    assert list(schema["properties"]) == ["answer", "confidence", "tone", "tags", "extra"]
    assert schema["required"] == ["answer", "tone", "tags", "extra"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["answer"] == {"type": "string", "description": "The answer"}
    assert schema["properties"]["confidence"] == {"type": "number", "default": 0.5}
    assert schema["properties"]["tone"] == {"type": "string", "enum": ["calm", "angry"]}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["properties"]["extra"] == {"type": "object"}


def test_validate_coerces_values_and_fills_defaults():
    signature = sig(
        {"name": "age", "type": "int"},
        {"name": "score", "type": "float"},
        {"name": "note", "required": False, "default": "none"},
    )

    assert signature.validate({"age": "42", "score": 3}) == {"age": 42, "score": 3.0, "note": "none"}


def test_validate_reports_a_message_per_faulty_field():
    signature = sig(
        {"name": "age", "type": "int"}, {"name": "name"}, {"name": "mood", "type": "enum", "choices": ["ok"]}
    )

    with pytest.raises(SignatureError) as info:
        signature.validate({"age": "old", "mood": "sad", "color": "red"})

    errors = info.value.field_errors
    assert set(errors) == {"age", "name", "mood", "color"}
    assert errors["name"] == ["required"]
    assert errors["color"] == ["unexpected field"]
    assert "integer" in errors["age"][0]
    assert any(m.startswith("age: ") for m in info.value.messages)


def test_validate_refuses_a_non_object():
    with pytest.raises(SignatureError, match="expected an object"):
        sig({"name": "a"}).validate(["a"])


def test_to_model_forbids_extra_keys_and_allows_field_names_that_shadow_pydantic():
    model = sig({"name": "json"}, {"name": "schema", "type": "int"}).to_model("Thing")

    assert model.model_validate({"json": "x", "schema": 1}).model_dump(by_alias=True) == {
        "json": "x",
        "schema": 1,
    }
    with pytest.raises(ValidationError):
        model.model_validate({"json": "x", "schema": 1, "other": 2})


def test_validate_partial_checks_only_the_present_keys():
    signature = sig({"name": "a", "type": "int"}, {"name": "b"})

    assert signature.validate_partial({"a": "1"}) == {"a": 1}
    with pytest.raises(SignatureError):
        signature.validate_partial({"c": 1})


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "1abc"}, "not a valid field name"),
        ({"name": "_private"}, "underscore"),
        ({"name": "mood", "type": "enum"}, "at least one choice"),
        ({"name": "mood", "type": "str", "choices": ["a"]}, "only for enum"),
        ({"name": "n", "type": "int", "items": "str"}, "only for list"),
        ({"name": "n", "type": "int", "default": 3}, "cannot have a default"),
        ({"name": "n", "type": "int", "required": False, "default": "x"}, "does not fit int"),
        ({"name": "n", "type": "date"}, "Input should be"),
    ],
)
def test_field_spec_rejects_inconsistent_declarations(spec, message):
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(spec)


def test_signature_refuses_duplicate_field_names():
    with pytest.raises(SignatureError, match="declared more than once"):
        sig({"name": "a"}, {"name": "a"})


@pytest.mark.parametrize(
    "source, target, compatible",
    [
        ({"type": "str"}, {"type": "str"}, True),
        ({"type": "int"}, {"type": "float"}, True),
        ({"type": "float"}, {"type": "int"}, False),
        ({"type": "int"}, {"type": "str"}, False),
        ({"type": "object"}, {"type": "str"}, False),
        ({"type": "enum", "choices": ["a"]}, {"type": "str"}, True),
        ({"type": "str"}, {"type": "enum", "choices": ["a"]}, False),
        ({"type": "enum", "choices": ["a"]}, {"type": "enum", "choices": ["a", "b"]}, True),
        ({"type": "enum", "choices": ["a", "c"]}, {"type": "enum", "choices": ["a", "b"]}, False),
        ({"type": "list", "items": "int"}, {"type": "list", "items": "float"}, True),
        ({"type": "list", "items": "str"}, {"type": "list", "items": "int"}, False),
        ({"type": "list"}, {"type": "list", "items": "int"}, True),
        ({"type": "bool"}, {"type": "int"}, False),
    ],
)
def test_is_compatible_port_types(source, target, compatible):
    assert is_compatible(FieldSpec(name="s", **source), FieldSpec(name="t", **target)) is compatible


def test_an_answer_cut_off_by_max_tokens_is_repaired_then_validated():
    from agents.engine.nodes.structured import check_answer
    from agents.engine.signature import FieldSpec, Signature

    signature = Signature([FieldSpec(name="facts", type="str")])
    assert check_answer('{ "facts": "Bees make honey and poll', signature) == {"facts": "Bees make honey and poll"}
    both = Signature([FieldSpec(name="facts", type="str"), FieldSpec(name="risks", type="str")])
    with pytest.raises(ValueError):
        check_answer('{ "facts": "Bees make honey', both)  # the missing required field is still refused


def test_equal_signatures_share_one_pydantic_model_and_validate_alike():
    def build() -> Signature:
        return Signature([FieldSpec(name="text"), FieldSpec(name="score", type="int", required=False, default=3)])

    first, second = build(), build()

    assert first.to_model("Data") is second.to_model("Data")  # built once per process, not per step
    assert first.validate({"text": "hi"}) == second.validate({"text": "hi"}) == {"text": "hi", "score": 3}
    assert first.validate_partial({"score": "4"}) == {"score": 4}
    with pytest.raises(SignatureError):
        second.validate_partial({"score": "four"})
    other = Signature([FieldSpec(name="text", type="int")])
    assert other.to_model("Data") is not first.to_model("Data")
