"""The API's errors beyond DRF's own, and the one shape every error has (drf-standardized-errors):
{"type": "validation_error" | "client_error" | "server_error",
 "errors": [{"code": ..., "detail": ..., "attr": <field or parameter> | null}]}.
"""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import APIException


class Conflict(APIException):
    """The request is well-formed but the resource's state refuses it (a suspended product)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource's state does not allow this."
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `required`, `not_found`…")
    detail = serializers.CharField(help_text="For people: what was wrong and how to fix it.")
    attr = serializers.CharField(
        allow_null=True, help_text="The field or query parameter at fault; null for the request."
    )


class ErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["validation_error", "client_error", "server_error"])
    errors = ErrorSerializer(many=True)


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer, for the status codes a view adds to DRF's (409, 413)."""
    return OpenApiResponse(ErrorResponseSerializer, description=description)
