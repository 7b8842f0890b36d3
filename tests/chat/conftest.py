"""Fixtures of the chat tests: the outside parties of the email and SMS channels (channel_helpers)."""

from tests.chat.channel_helpers import fake_twilio, sms_outbox, smtp_receiver, smtp_sink

__all__ = ["fake_twilio", "sms_outbox", "smtp_receiver", "smtp_sink"]
