"""What OPTIONS answers: the view's name and description and the media types it renders and
parses. The bodies each method takes and gives are described once, in the OpenAPI schema."""

from rest_framework.metadata import SimpleMetadata


class ApiMetadata(SimpleMetadata):
    def determine_actions(self, request, view):
        # DRF's describes the PUT and POST bodies by building the view's serializer and, for
        # PUT, its object: a 500 for a view without either (POST …/sync/ takes no body, and
        # /users/me/ is no queryset's object).
        return {}
