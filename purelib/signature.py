"""Signatures: ordered, typed fields that describe a node's ports.

A :class:`Signature` is a list of :class:`FieldSpec`. It turns into a pydantic
model (to validate and coerce data) and into a JSON Schema (to ask a model
for structured output). The JSON Schema is hand-written rather than taken
from pydantic so that it stays flat — no ``$defs``, no ``anyOf`` — which is
what grammar-constrained local models handle best.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from purelib.errors import SignatureError

#: Most pydantic models / type adapters kept per process (built per distinct signature; cleared when full).
MAX_CACHED_MODELS = 2048
_models: dict[tuple[str, tuple[str, ...]], type[BaseModel]] = {}
_adapters: dict[tuple[str, bool], TypeAdapter[Any]] = {}

FieldType = Literal["str", "int", "float", "bool", "list", "object", "enum"]
ItemType = Literal["str", "int", "float", "bool", "object"]

_JSON_TYPES: dict[str, str] = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "object": "object",
    "enum": "string",
}
_PY_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "object": dict[str, Any],
}


class FieldSpec(BaseModel):
    """One typed field of a signature (one port of a node).

    ``name`` is a Python identifier. ``type`` is one of ``str``, ``int``,
    ``float``, ``bool``, ``list``, ``object`` (a JSON object) or ``enum``
    (a string out of ``choices``). ``items`` optionally types the elements
    of a ``list``. A field that is not ``required`` takes ``default``
    (``None`` unless set) when absent; a required field has no default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FieldType = "str"
    description: str = ""
    required: bool = True
    default: Any = None
    choices: list[str] = Field(default_factory=list)
    items: ItemType | None = None

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"{value!r} is not a valid field name (letters, digits, _)")
        if value.startswith("_"):
            raise ValueError(f"{value!r}: field names cannot start with an underscore")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type == "enum":
            if not self.choices:
                raise ValueError(f"field {self.name!r}: an enum needs at least one choice")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError(f"field {self.name!r}: enum choices must be unique")
        elif self.choices:
            raise ValueError(f"field {self.name!r}: choices are only for enum fields")
        if self.items is not None and self.type != "list":
            raise ValueError(f"field {self.name!r}: items is only for list fields")
        if self.default is not None:
            if self.required:
                raise ValueError(f"field {self.name!r}: a required field cannot have a default; set required to false")
            try:
                TypeAdapter(self.python_type()).validate_python(self.default)
            except ValidationError as exc:
                first = exc.errors()[0]["msg"]
                raise ValueError(f"field {self.name!r}: default does not fit {self.type_label()}: {first}") from None
        return self

    def python_type(self) -> Any:
        """The Python type pydantic validates this field with (without ``None``)."""
        if self.type == "enum":
            return Literal[tuple(self.choices)]
        if self.type == "list":
            return list.__class_getitem__(_PY_TYPES[self.items]) if self.items else list[Any]
        return _PY_TYPES[self.type]

    def type_label(self) -> str:
        """Short human name of the type: ``str``, ``list[int]``, ``enum(a|b)``."""
        if self.type == "list" and self.items:
            return f"list[{self.items}]"
        if self.type == "enum":
            return "enum(" + "|".join(self.choices) + ")"
        return self.type

    def property_schema(self) -> dict[str, Any]:
        """The JSON Schema of this field's value (no ``null``)."""
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.type]}
        if self.type == "enum":
            schema["enum"] = list(self.choices)
        if self.type == "list" and self.items:
            schema["items"] = {"type": _JSON_TYPES[self.items]}
        if self.description:
            schema["description"] = self.description
        if self.default is not None:
            schema["default"] = self.default
        return schema


class Signature:
    """An ordered list of uniquely named fields.

    Raises :class:`SignatureError` when two fields share a name.
    """

    def __init__(self, fields: list[FieldSpec] | tuple[FieldSpec, ...] = ()):
        self.fields: tuple[FieldSpec, ...] = tuple(fields)
        seen: set[str] = set()
        dupes: list[str] = []
        for spec in self.fields:
            if spec.name in seen:
                dupes.append(spec.name)
            seen.add(spec.name)
        if dupes:
            raise SignatureError({name: ["declared more than once"] for name in dupes})
        self._by_name = {f.name: f for f in self.fields}
        self._model: type[BaseModel] | None = None

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}: {f.type_label()}" for f in self.fields)
        return f"Signature({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(tuple(f.name for f in self.fields))

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Field names in declaration order."""
        return [f.name for f in self.fields]

    def get(self, name: str) -> FieldSpec | None:
        """The field called ``name`` or ``None``."""
        return self._by_name.get(name)

    def required_names(self) -> list[str]:
        """Names of the required fields, in order."""
        return [f.name for f in self.fields if f.required]

    def to_model(self, name: str = "Model") -> type[BaseModel]:
        """A pydantic model with one attribute per field, extra keys forbidden.

        Attributes are named ``f0, f1 ...`` with the field names as aliases, so
        that a field may be called e.g. ``json`` or ``copy`` without
        shadowing pydantic; dump with ``by_alias=True``. Built once per
        distinct signature and name in a process, then reused (building one
        costs ~1 ms; steps of a run build the same signatures again and again).
        """
        key = (name, tuple(spec.model_dump_json() for spec in self.fields))
        model = _models.get(key)
        if model is None:
            if len(_models) >= MAX_CACHED_MODELS:
                _models.clear()
            model = _models[key] = self._build_model(name)
        return model

    def _build_model(self, name: str) -> type[BaseModel]:
        definitions: dict[str, Any] = {}
        for index, spec in enumerate(self.fields):
            kwargs: dict[str, Any] = {"alias": spec.name, "description": spec.description}
            if spec.required:
                definitions[f"f{index}"] = (spec.python_type(), Field(**kwargs))
            else:
                definitions[f"f{index}"] = (
                    spec.python_type() | None,
                    Field(default=spec.default, **kwargs),
                )
        model: type[BaseModel] = create_model(
            name,
            __config__=ConfigDict(extra="forbid", populate_by_name=False),
            **definitions,
        )
        return model

    def json_schema(self) -> dict[str, Any]:
        """The object JSON Schema: ``properties`` in order, ``required``,
        descriptions, ``enum`` choices, ``additionalProperties: false``."""
        return {
            "type": "object",
            "properties": {f.name: f.property_schema() for f in self.fields},
            "required": self.required_names(),
            "additionalProperties": False,
        }

    def validate(self, data: Any) -> dict[str, Any]:
        """Validate and coerce ``data`` (lax pydantic rules: ``"3"`` → 3 for an
        int, 3 → 3.0 for a float). Returns a new dict in field order with
        defaults filled in. Raises :class:`SignatureError` with one entry per
        faulty field (``""`` when ``data`` is not an object at all)."""
        if not isinstance(data, dict):
            raise SignatureError({"": [f"expected an object, got {type(data).__name__}"]})
        if self._model is None:
            self._model = self.to_model("Data")
        try:
            instance = self._model.model_validate(data)
        except ValidationError as exc:
            raise SignatureError(_field_errors(exc)) from None
        return instance.model_dump(by_alias=True)

    def validate_partial(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate and coerce only the keys present in ``data`` (a router or
        an error branch emits some ports only). Unknown keys and bad values
        raise :class:`SignatureError`."""
        errors: dict[str, list[str]] = {}
        out: dict[str, Any] = {}
        for key, value in data.items():
            spec = self._by_name.get(key)
            if spec is None:
                errors.setdefault(key, []).append("unexpected field")
                continue
            try:
                out[key] = _adapter(spec).validate_python(value)
            except ValidationError as exc:
                errors.setdefault(key, []).extend(e["msg"] for e in exc.errors())
        if errors:
            raise SignatureError(errors)
        return out


def _adapter(spec: FieldSpec) -> TypeAdapter[Any]:
    """The (cached) type adapter validating one value of ``spec`` (``None`` allowed when optional)."""
    key = (spec.model_dump_json(), spec.required)
    adapter = _adapters.get(key)
    if adapter is None:
        if len(_adapters) >= MAX_CACHED_MODELS:
            _adapters.clear()
        python_type = spec.python_type() if spec.required else spec.python_type() | None
        adapter = _adapters[key] = TypeAdapter(python_type)
    return adapter


def _field_errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = error["loc"]
        name = str(loc[0]) if loc else ""
        if error["type"] == "missing":
            message = "required"
        elif error["type"] == "extra_forbidden":
            message = "unexpected field"
        else:
            message = error["msg"]
            if len(loc) > 1:
                message = f"at {'.'.join(str(p) for p in loc[1:])}: {message}"
        errors.setdefault(name, []).append(message)
    return errors


def is_compatible(source: FieldSpec, target: FieldSpec) -> bool:
    """Whether an edge may carry ``source``'s values into ``target``.

    The rule is strict, so that a graph that validates cannot fail on a type
    at run time:

    - the same type fits (an ``enum`` only into an ``enum`` whose choices
      include all of the source's; a ``list[a]`` into a ``list[b]`` when
      ``a`` fits ``b``; an untyped list fits any list and vice versa);
    - ``int`` fits ``float``; ``enum`` fits ``str``;
    - nothing else converts implicitly — in particular nothing becomes a
      ``str`` by formatting: put a ``template`` node in between.
    """
    if source.type == target.type:
        if source.type == "enum":
            return set(source.choices) <= set(target.choices)
        if source.type == "list" and source.items and target.items:
            return source.items == target.items or (source.items == "int" and target.items == "float")
        return True
    return (source.type, target.type) in {("int", "float"), ("enum", "str")}


def signature_of(fields: list[FieldSpec] | list[dict[str, Any]]) -> Signature:
    """Build a :class:`Signature` from field specs or their dicts.
    Raises :class:`SignatureError` or ``pydantic.ValidationError``."""
    return Signature([f if isinstance(f, FieldSpec) else FieldSpec.model_validate(f) for f in fields])
