"""What drf-spectacular cannot see for itself in our serializers (loaded by ApiConfig.ready)."""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension

from api.serializers import TIME_ZONES
from pricing.selectors import MemoryWindow


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer refuses names it does not know (400): its request bodies say so with
    `additionalProperties: false`, so that clients and schema-driven tests know extras fail."""

    target_class = "api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


# What str.strip() removes (the 29 characters str.isspace() holds), as a regex class.
WHITESPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class TextFieldExtension(OpenApiSerializerFieldExtension):
    """Text never holds NUL: PostgreSQL cannot store it, so TextField refuses it (400), and so
    does every query parameter (ApiView). A field that is trimmed and may not be blank needs a
    character besides whitespace: "  " is trimmed to a blank value (400)."""

    target_class = "api.serializers.TextField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        if field.trim_whitespace and not field.allow_blank:
            schema["pattern"] = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
        else:
            # One character at least: drf-spectacular gives a blank field's "" a oneOf branch
            # of its own, which must be the only branch "" matches.
            schema["pattern"] = r"^[^\x00]+$"
        return schema


class TimeZoneFieldExtension(OpenApiSerializerFieldExtension):
    """The time zones a TimeZoneField takes: one component, `TimeZone`, rather than ~600 names
    written out in every body and query parameter that takes one."""

    target_class = "api.serializers.TimeZoneField"

    def get_name(self):
        return "TimeZone"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": TIME_ZONES}


class MemoryWindowFieldExtension(OpenApiSerializerFieldExtension):
    """A product memory's windows: one component, `MemoryWindow`, whose name does not collide
    with an alert rule's `window` (drf-spectacular names enums after their fields)."""

    target_class = "api.serializers.MemoryWindowField"

    def get_name(self):
        return "MemoryWindow"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": [window.value for window in MemoryWindow]}
