"""Server-rendered pages: the agent console (/console/) and the demo shop page (/demo/)."""

import contextlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.models import Channel, Conversation, Inbox, Priority
from cxhub.errors import InvalidInput


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


class ConsoleLogoutView(auth_views.LogoutView):
    """POST only (Django's rule): the nav's logout button submits a form."""


@login_required
@require_GET
def console(request, conversation_id: int | None = None):
    """The console shell; the list, the timeline and the contact panel fill in from the API."""
    user = request.user
    if conversation_id is not None and not selectors.conversations_visible_to(user).filter(pk=conversation_id).exists():
        raise Http404("Conversation not found.")  # a foreign conversation is a missing one
    context = {
        "conversation_id": conversation_id,
        "inboxes": selectors.inboxes_visible_to(user).order_by("name"),
        "teams": selectors.teams_visible_to(user).order_by("name"),
        "agents": selectors.agents_visible_to(user),
        "statuses": Conversation.Status.choices,
        "channels": Channel.choices,
        "priorities": Priority.choices,
        "is_supervisor": selectors.user_is_supervisor(user),
        "body_max_chars": settings.MESSAGE_BODY_MAX_CHARS,
    }
    return render(request, "console/index.html", context)


@login_required
@require_POST
def console_language(request):
    """The agent picks the console's language (their profile; empty: the browser's), then goes back."""
    # Not a language cxhub ships (logged): the console stays as it was.
    with contextlib.suppress(InvalidInput):
        services.agent_set_language(user=request.user, language=request.POST.get("language", ""))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = "/console/"
    return HttpResponseRedirect(target, status=303)


@require_GET
def demo(request):
    """A sample shop page that embeds the widget of the first web inbox (seed_demo's)."""
    inbox = Inbox.objects.filter(channel=Channel.WEB).order_by("id").first()
    return render(request, "chat/demo.html", {"inbox": inbox})
