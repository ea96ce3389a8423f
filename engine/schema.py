"""What every config schema shares: the Strict base, limits, specs, checks, and the registered-union field.

Components declare their schema beside their class (`Dense.Config`, `SGD.Config`, `Step.Config`) and check
their own arguments with it (`validated`); `config.py` reads the registries through `Registered`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, TypeVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import core_schema

MAX_LAYERS = 32
MAX_UNITS = 1024
MAX_FILTERS = 128
MAX_EPOCHS = 10_000
MAX_SAMPLES = 20_000

Spec = str | dict[str, Any]
Schema = TypeVar("Schema", bound=BaseModel)


class Strict(BaseModel):
    """No unknown fields and no conversions: "8", true or 8.0 for an integer is an error; 1 is a float."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True, strict=True)


def check_spec(family: str, spec: Spec) -> Spec:
    """`spec` unchanged if the activation or initializer registry builds it, else its ValueError."""
    from engine import activations, initializers

    registry = {"activation": activations, "initializer": initializers}[family]
    registry.get(spec)
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
def _union(entries: tuple[tuple[str, Any], ...], key: str) -> TypeAdapter:
    for name, entry in entries:
        tag = entry.Config.model_fields[key].default
        if tag != name:
            raise ValueError(f"{entry!r} is registered as {name!r} but its Config's {key} is {tag!r}")
    members = tuple(entry.Config for _, entry in entries)
    return TypeAdapter(Annotated[Union[members], Field(discriminator=key)])  # noqa: UP007


class Registered:
    """Field metadata: one member of a registry's schemas (`entry.Config`), chosen by its `key` field.

    The union is read from the registry when a value is validated or a JSON schema is generated, so a
    class registered after import (by a plugin or a test) is accepted everywhere the field is used,
    without rebuilding RunConfig or the server's models that embed it.
    """

    def __init__(self, registry: Mapping[str, Any], key: str):
        self.registry, self.key = registry, key

    def union(self) -> TypeAdapter:
        """The discriminated union of the registry's schemas, as they are registered now."""
        return _union(tuple(self.registry.items()), self.key)

    def validate(self, value: Any) -> BaseModel:
        return self.union().validate_python(value)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler):
        return handler(self.union().core_schema)
