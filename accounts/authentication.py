"""`Authorization: Bearer cxh_…`: the API tokens of accounts (DRF authentication).

A token is refused when unknown, revoked or expired (401 `token_invalid` / `token_expired`); a
read-only token is refused on any write (403 `token_read_only`); a token limited to some inboxes
narrows every scoped read and write of the request to them (`chat.selectors.CREDENTIAL_INBOXES`).
"""

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from chat.selectors import CREDENTIAL_INBOXES

from . import selectors, services
from .errors import ErrorCode


class TokenRefused(exceptions.AuthenticationFailed):
    """A 401 whose JSON error code says why (`error_code`, kept by cxhub.errors' handler)."""

    def __init__(self, detail, *, code):
        super().__init__(detail)
        self.error_code = code


class ReadOnlyToken(exceptions.PermissionDenied):
    def __init__(self, detail, *, code):
        super().__init__(detail)
        self.error_code = code


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            return None
        raw = parts[1].decode("latin-1")
        if not raw.startswith(services.TOKEN_PREFIX):
            return None  # another kind of bearer credential: not ours
        token = selectors.api_token_for(raw)
        if token is None or token.revoked_at is not None or not token.user.is_active:
            raise TokenRefused(_("This API token is not valid."), code=ErrorCode.TOKEN_INVALID)
        if token.expires_at <= timezone.now():
            raise TokenRefused(_("This API token has expired."), code=ErrorCode.TOKEN_EXPIRED)
        if token.read_only and request.method not in SAFE_METHODS:
            raise ReadOnlyToken(_("This API token is read-only."), code=ErrorCode.TOKEN_READ_ONLY)
        user = token.user
        inbox_ids = selectors.limited_inbox_ids(token)
        if inbox_ids:
            setattr(user, CREDENTIAL_INBOXES, inbox_ids)
        services.api_token_used(token=token)
        return user, token

    def authenticate_header(self, request):
        """`Bearer` (so a 401) only for requests that showed a bearer token; others keep DRF's 403."""
        parts = authentication.get_authorization_header(request).split()
        return self.keyword if parts and parts[0].lower() == self.keyword.lower().encode() else None


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The tokens in the OpenAPI schema: an HTTP bearer scheme."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Bearer cxh_…`: an API token from /api/v1/account/tokens/ (read-only or not, "
            "limited to some inboxes or not, expiring).",
        }
