"""The SSRF guard the outbound webhooks call through: it lives in chat (chat/safe_http.py), which
also fetches SMS media through it."""

from chat.safe_http import Answer, RefusedDestination, Target, forbidden_reason, parse, post, resolve

__all__ = ["Answer", "RefusedDestination", "Target", "forbidden_reason", "parse", "post", "resolve"]
