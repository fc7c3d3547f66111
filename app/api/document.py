"""The OpenAPI document as the API behaves. Litestar describes a pydantic model's fields; these plugins add what
it leaves out: that a closed model (``extra="forbid"``) refuses any other field, that an email address is refused
in a special-use domain, that a date-time is an RFC 3339 string, and that an event published by hand is one of the
catalogue's types with that type's own payload. :func:`declare_headers` adds the headers a refusal carries."""

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.typing import FieldDefinition
from pydantic import BaseModel

from app.api.schemas import DATE_TIME_PATTERN, PublishEventRequest
from app.domain.events import EventCatalogue

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

# What email-validator refuses in an address the email format allows: a quoted local part, or one over 64
# characters; a domain without a dot, with a label starting "??--", ending in a digit or in a special-use name
_LABEL = r"(?!..--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP = r"(?!..--)(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
EMAIL_PATTERN = (rf"^(?=.{{3,254}}$)(?!.*\.(?i:arpa|invalid|local|localhost|onion|test)$)[^@\"]{{1,64}}@"
                 rf"(?=[^@]{{1,253}}$)(?:{_LABEL}\.)+{_TOP}$")
PATTERNS: dict[str, str] = {OpenAPIFormat.EMAIL: EMAIL_PATTERN, OpenAPIFormat.DATE_TIME: DATE_TIME_PATTERN}


class ClosedModels(OpenAPISchemaPlugin):
    """A pydantic model with ``extra="forbid"``: ``additionalProperties: false``; its emails and date-times
    with the patterns they are checked against."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        model = field_definition.annotation
        return isinstance(model, type) and issubclass(model, BaseModel) and model.model_config.get("extra") == "forbid"

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: "SchemaCreator") -> Schema:
        schema = PydanticSchemaPlugin.for_pydantic_model(field_definition, schema_creator)
        schema.additional_properties = False
        if schema.properties:
            schema.properties = {name: _patterned(field) for name, field in schema.properties.items()}
        return schema


def _patterned(field: Schema | Reference) -> Schema | Reference:
    pattern = PATTERNS.get(field.format) if isinstance(field, Schema) and field.format else None
    if not isinstance(field, Schema) or field.pattern is not None or pattern is None:
        return field
    return replace(field, pattern=pattern)  # a copy: Litestar shares one schema between the fields of a type


class PublishedEvents(OpenAPISchemaPlugin):
    """The body of ``POST /api/events``: one of the catalogue's event types, with the payload its schema asks for."""

    def __init__(self, catalogue: EventCatalogue) -> None:
        self.catalogue = catalogue

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is PublishEventRequest

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: "SchemaCreator") -> Schema:
        schema = schema_creator.schema_registry.get_schema_for_field_definition(field_definition)
        schema.title, schema.type = "PublishEventRequest", OpenAPIType.OBJECT
        schema.description = "An event of the catalogue, validated against its type's payload schema."
        schema.one_of = [self._event(name, schema_creator) for name in self.catalogue.names()]
        return schema

    def _event(self, name: str, schema_creator: "SchemaCreator") -> Schema:
        event = self.catalogue[name]
        payload: Any = schema_creator.for_field_definition(FieldDefinition.from_annotation(event.schema))
        return Schema(type=OpenAPIType.OBJECT, title=name, description=event.description,
                      required=["payload", "type"], additional_properties=False,
                      properties={"type": Schema(type=OpenAPIType.STRING, const=name), "payload": payload})


def schema_plugins(catalogue: EventCatalogue) -> list[OpenAPISchemaPlugin]:
    return [PublishedEvents(catalogue), ClosedModels()]


_SECONDS = Schema(type=OpenAPIType.INTEGER, minimum=0)
# Litestar's ResponseSpec has no headers: they are added to the built document, by status.
HEADERS: dict[str, dict[str, OpenAPIHeader]] = {
    "401": {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING, const='Bearer realm="flowplane"'),
                                              required=True, description="The scheme to authenticate with")},
    "429": {"Retry-After": OpenAPIHeader(schema=_SECONDS, required=True, description="Seconds until a retry may pass")},
    "503": {"Retry-After": OpenAPIHeader(schema=_SECONDS, required=True, description="Seconds to wait before a retry")},
}


def declare_headers(app: Litestar) -> None:
    """On startup, before the document is first served: each 401, 429 and 503 names the header it carries."""
    for path in (app.openapi_schema.paths or {}).values():
        for operation in (getattr(path, method) for method in ("get", "put", "post", "delete", "patch")):
            for status, response in ((operation.responses or {}) if operation else {}).items():
                # /ready's 503 is its readiness JSON, not a refusal: it names no retry time
                if status in HEADERS and isinstance(response, OpenAPIResponse) and \
                        "application/json" not in (response.content or {}):
                    response.headers = {**(response.headers or {}), **HEADERS[status]}
