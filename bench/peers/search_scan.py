"""Peer of search: the same answer found by a naive `icontains` scan (what a first search box does).

Every word must be in the body (`body__icontains`, AND), newest first, the same scope, the same
limit; contacts and subjects likewise. No index can help a `%word%` pattern, so each query
reads the messages until it has found 20 (a common word) or all of them (a rare one).
Mounted only by bench/urls.py at /bench/peer/search/.
"""

from django.db.models import Q
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors
from chat.models import Message


class NaiveSearch(APIView):
    def get(self, request):
        words = request.query_params.get("q", "").split()
        ids = selectors.inbox_ids_visible_to(request.user)
        messages = Message.objects.all() if ids is None else Message.objects.filter(inbox_id__in=ids)
        contacts = selectors.contacts_visible_to(request.user)
        conversations = selectors.conversations_visible_to(request.user)
        for word in words:
            messages = messages.filter(body__icontains=word)
            contacts = contacts.filter(Q(name__icontains=word) | Q(email__icontains=word) | Q(phone__icontains=word))
            conversations = conversations.filter(subject__icontains=word)
        return Response(
            {
                "messages": list(messages.order_by("-id").values("id", "conversation_id", "body")[:20]),
                "contacts": list(contacts.order_by("-id").values("id", "name")[:20]),
                "conversations": list(conversations.order_by("-last_activity_at").values("id", "subject")[:20]),
            }
        )


urlpatterns = [path("", NaiveSearch.as_view())]
