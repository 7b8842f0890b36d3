"""chat's error codes: stable strings clients switch on (the API's JSON errors, socket error frames).

The JSON error shape and the domain exception types are cxhub/errors.py's; a code is documented
where clients meet it (docs/websocket-protocol.md for frames, the OpenAPI schema for the API).
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    # conversations and messages
    CONVERSATION_RESOLVED = "conversation_resolved"
    CONTACT_HAS_OPEN_CONVERSATION = "contact_has_open_conversation"
    NOT_SNOOZED = "not_snoozed"
    BODY_TOO_LONG = "body_too_long"
    CHANNEL_UNAVAILABLE = "channel_unavailable"
    # attachments (docs/attachments.md)
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    ATTACHMENT_TYPE_REFUSED = "attachment_type_refused"
    ATTACHMENT_CONTENT_MISMATCH = "attachment_content_mismatch"
    ATTACHMENT_EMPTY = "attachment_empty"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    # search (docs/search.md)
    SEARCH_EMPTY = "search_empty"
    SEARCH_TOO_LONG = "search_too_long"
    SEARCH_MALFORMED = "search_malformed"
    # contacts
    ALREADY_MERGED = "already_merged"
    NOT_MERGED = "not_merged"
    BOTH_HAVE_OPEN_CONVERSATIONS = "both_have_open_conversations"
    # the widget's session
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    IDENTITY_INVALID = "identity_invalid"
    VISITOR_TOKEN_INVALID = "visitor_token_invalid"
    # email and SMS
    UNKNOWN_RECIPIENT = "unknown_recipient"
    MALFORMED_EMAIL = "malformed_email"
    MAIL_LOOP = "mail_loop"
    EMAIL_WITHOUT_SENDER = "email_without_sender"
    SMS_NOT_CONFIGURED = "sms_not_configured"
    UNKNOWN_NUMBER = "unknown_number"
    NO_PHONE_NUMBER = "no_phone_number"
    INVALID_PHONE_NUMBER = "invalid_phone_number"


class FrameErrorCode(StrEnum):
    """The codes of the websockets' own `error` frames (docs/websocket-protocol.md)."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
