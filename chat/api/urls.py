"""/api/v1/ routes of the conversation core."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import automation, canned, search, views, widget, workspace

router = SimpleRouter()
router.register("inboxes", views.InboxViewSet, basename="inbox")
router.register("teams", views.TeamViewSet, basename="team")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("conversations", views.ConversationViewSet, basename="conversation")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("canned-responses", canned.CannedResponseViewSet, basename="canned-response")
router.register("labels", workspace.LabelViewSet, basename="label")
router.register("views", workspace.SavedViewViewSet, basename="saved-view")
router.register("macros", workspace.MacroViewSet, basename="macro")
router.register("mentions", workspace.MentionViewSet, basename="mention")
router.register("attributes", workspace.AttributeDefinitionViewSet, basename="attribute-definition")
router.register("automation-rules", automation.AutomationRuleViewSet, basename="automation-rule")

messages = views.MessageViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    path("conversations/<int:conversation_pk>/messages/", messages, name="conversation-messages"),
    path(
        "conversations/<int:conversation_pk>/messages/<int:message_pk>/attachments/<int:index>",
        views.message_attachment,
        name="message-attachment",
    ),
    path("search/", search.SearchView.as_view(), name="search"),
    path("preferences/", workspace.preferences, name="preferences"),
    path("widget/<str:inbox_public_id>/session", widget.WidgetSessionView.as_view(), name="widget-session"),
    path("widget/<str:inbox_public_id>/attachments", widget.WidgetUploadView.as_view(), name="widget-attachments"),
    *router.urls,
]
