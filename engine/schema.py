"""What every config schema shares: the Strict base, limits, specs, checks, and the registered-union field.

Every component (layer type, activation, initializer, loss, optimizer, schedule) declares its schema beside
its class (`Dense.Config`, `ELU.Config`, `SGD.Config`) and checks its own arguments with it (`validated`);
`config.py` reads the registries through `Registered`, `Named` and `check_spec`, the catalog through each
`Config`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Protocol, TypeVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import SchemaValidator, core_schema

MAX_LAYERS = 32
MAX_UNITS = 1024
MAX_FILTERS = 128
MAX_EPOCHS = 10_000
MAX_SAMPLES = 20_000

Spec = str | dict[str, Any]
SpecLike = str | Mapping[str, Any]
Schema = TypeVar("Schema", bound=BaseModel)


class Strict(BaseModel):
    """No unknown fields and no conversions: "8", true or 8.0 for an integer is an error; 1 is a float."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True, strict=True)


class Component(Protocol):
    """A registered entry: its schema, beside its class."""

    @property
    def Config(self) -> type[BaseModel]: ...  # noqa: N802


def registry_of(family: str) -> Mapping[str, Component]:
    """The registry of a family that configs name by spec: "activation", "initializer" or "loss"."""
    from engine import activations, initializers, losses

    registries: dict[str, Mapping[str, Component]] = {
        "activation": activations.ACTIVATIONS,
        "initializer": initializers.INITIALIZERS,
        "loss": losses.LOSSES,
    }
    return registries[family]


def check_spec(family: str, spec: Spec, also: tuple[str, ...] = ()) -> Spec:
    """`spec` unchanged if its entry's schema accepts it, else a ValueError naming the field or the names.

    A name stands for {"name": name}; a dict {"name": ..., **params} is checked by that entry's Config, whose
    ValidationError locates a bad parameter by the spec's own path, e.g. ("negative_slope",). The names in
    `also` (e.g. "auto") are accepted as they are.
    """
    if isinstance(spec, str) and spec in also:
        return spec
    if not isinstance(spec, str | Mapping):
        raise ValueError(f"{family} must be a name or an object {{name, ...parameters}}, got {spec!r:.100}")
    registry = registry_of(family)
    values = {"name": spec} if isinstance(spec, str) else spec
    name = values.get("name")
    valid = ", ".join([*also, *registry])
    if not isinstance(name, str):
        raise ValueError(f"a {family} object needs a name, one of: {valid}")
    if name not in registry:
        raise ValueError(f"unknown {family} {name!r:.100}; valid: {valid}")
    registry[name].Config.model_validate(values)
    return spec


def validated(schema: type[Schema], **values: Any) -> Schema:
    """`values` checked by `schema` (its types, bounds and validators), or a ValueError naming the field."""
    try:
        return schema.model_validate(values)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        raise ValueError(f"{field}: {message}, got {problem['input']!r}" if field else message) from None


@lru_cache(maxsize=64)
def _union(entries: tuple[tuple[str, Component], ...], key: str) -> TypeAdapter[BaseModel]:
    for name, entry in entries:
        tag = entry.Config.model_fields[key].default
        if tag != name:
            raise ValueError(f"{entry!r} is registered as {name!r} but its Config's {key} is {tag!r}")
    members = tuple(entry.Config for _, entry in entries)
    union: Any = Annotated[Union[members], Field(discriminator=key)]  # noqa: UP007 (built at run time)
    return TypeAdapter(union)


class RegistryField:
    """Field metadata read from a registry when a value is validated or a JSON schema is generated.

    So a class registered after import (by a plugin or a test) is accepted everywhere the field is used,
    without rebuilding RunConfig or the server's models that embed it.
    """

    def validate(self, value: Any) -> Any:
        """`value` as the field holds it, or a ValidationError or ValueError."""
        raise NotImplementedError

    def schema(self) -> core_schema.CoreSchema:
        """The schema the field's JSON schema is generated from, as the registry is now."""
        raise NotImplementedError

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.schema())


class Registered(RegistryField):
    """Field metadata: one member of a registry's schemas (`entry.Config`), chosen by its `key` field."""

    def __init__(self, registry: Mapping[str, Component], key: str) -> None:
        self.registry, self.key = registry, key

    def union(self) -> TypeAdapter[BaseModel]:
        """The discriminated union of the registry's schemas, as they are registered now."""
        return _union(tuple(self.registry.items()), self.key)

    def validate(self, value: Any) -> BaseModel:
        """`value` as the schema its `key` names, or a ValidationError located in that schema."""
        return self.union().validate_python(value)

    def schema(self) -> core_schema.CoreSchema:
        return self.union().core_schema


class Named(RegistryField):
    """Field metadata: a spec of a `family`'s entry, a name or {"name": ..., **params}, kept as given.

    Checked by `check_spec`; the names in `also` (e.g. "auto") are accepted besides the registry's. Its JSON
    schema names the registered entries: one of their names, or one of their schemas.
    """

    def __init__(self, family: str, also: tuple[str, ...] = ()) -> None:
        self.family, self.also = family, also

    def validate(self, value: Any) -> Spec:
        """`value` unchanged if it names a registered entry with parameters its schema accepts."""
        return check_spec(self.family, value, self.also)

    def schema(self) -> core_schema.CoreSchema:
        registry = registry_of(self.family)
        names = core_schema.literal_schema([*self.also, *registry])
        return core_schema.union_schema([names, _union(tuple(registry.items()), "name").core_schema])


@lru_cache(maxsize=64)
def _tightest(entries: tuple[tuple[str, Component], ...], field: str) -> core_schema.FloatSchema:
    """A strict finite float within every entry's bounds on `field`; a bound is (value, exclusive)."""
    lows: list[tuple[float, bool]] = [(-math.inf, False)]
    highs: list[tuple[float, bool]] = [(math.inf, False)]
    for _, entry in entries:
        bounds = entry.Config.model_json_schema()["properties"][field]
        lows += [
            (float(bounds[key]), key != "minimum") for key in ("minimum", "exclusiveMinimum") if key in bounds
        ]
        highs += [
            (float(bounds[key]), key != "maximum") for key in ("maximum", "exclusiveMaximum") if key in bounds
        ]
    low, low_open = max(lows)
    high, high_open = min(highs, key=lambda bound: (bound[0], not bound[1]))
    schema = core_schema.float_schema(allow_inf_nan=False, strict=True)
    if low > -math.inf:
        schema["gt" if low_open else "ge"] = low
    if high < math.inf:
        schema["lt" if high_open else "le"] = high
    return schema


class Shared(RegistryField):
    """Field metadata: a number the `field` of every schema in a registry accepts (their tightest bounds).

    For a value that must suit whichever registered entry it reaches, e.g. a run's lr set mid-run whatever its
    optimizer.
    """

    def __init__(self, registry: Mapping[str, Component], field: str) -> None:
        self.registry, self.field = registry, field

    def schema(self) -> core_schema.FloatSchema:
        """The float schema with the tightest bounds of the registry's `field`, as registered now."""
        return _tightest(tuple(self.registry.items()), self.field)

    def validate(self, value: Any) -> float:
        """`value` as a float within the bounds, or a ValidationError."""
        number: float = SchemaValidator(self.schema()).validate_python(value)
        return number
