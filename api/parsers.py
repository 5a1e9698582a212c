"""The API reads JSON only, and no more of it than a request can need."""

import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class BoundedJSONParser(JSONParser):
    """JSONParser that refuses a body over settings.API_MAX_BODY_BYTES (413) before decoding it:
    DRF hands parsers the raw request stream, past Django's own upload limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit:,} bytes.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
