"""Pages of the chat app: the agent console and the widget demo."""

from django.urls import path

from . import views
from .api import views as api_views

urlpatterns = [
    path("demo/", views.demo, name="demo"),
    path("console/", views.console, name="console"),
    path("console/c/<int:conversation_id>/", views.console, name="console-conversation"),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console-login"),
    path("console/logout/", views.ConsoleLogoutView.as_view(), name="console-logout"),
    path("console/language/", views.console_language, name="console-language"),
    path("files/<str:token>", api_views.attachment_file, name="attachment-file"),
]
