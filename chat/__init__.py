"""Conversations: inboxes, contacts, messages and the services that move them."""
