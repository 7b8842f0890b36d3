"""Read-only canned responses for the console's `/shortcut` completion."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets

from chat import selectors
from chat.models import CannedResponse
from cxhub.errors import NotFound


class CannedResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "body", "texts"]
        extra_kwargs = {
            "texts": {
                "help_text": 'The text in other languages, e.g. {"ru": "…"}; the console '
                "inserts the customer's, else `body`."
            }
        }


class CannedResponseViewSet(viewsets.ReadOnlyModelViewSet):
    """`?q=ref` lists the responses whose shortcut starts with `ref` (a leading `/` is ignored)."""

    serializer_class = CannedResponseSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]+"

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Shortcut prefix.")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        prefix = self.request.query_params.get("q", "")[:50] if self.action == "list" else ""
        return selectors.canned_responses_visible_to(self.request.user, prefix=prefix)

    def get_object(self):
        pk = selectors.parse_id(self.kwargs["pk"])
        found = self.get_queryset().filter(pk=pk).first() if pk else None
        if found is None:
            raise NotFound("Canned response not found.")
        return found
