"""accounts' error codes: stable strings clients switch on (the JSON error shape is cxhub/errors.py's)."""

from enum import StrEnum


class ErrorCode(StrEnum):
    OTP_INVALID = "otp_invalid"
    OTP_THROTTLED = "otp_throttled"
    TWO_FACTOR_REQUIRED = "two_factor_required"
    NOT_ENROLLED = "two_factor_not_enrolled"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_READ_ONLY = "token_read_only"
    TOKEN_MANAGEMENT = "token_management_needs_a_session"
    RETENTION_INVALID = "retention_invalid"
