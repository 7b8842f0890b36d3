"""Outbound webhooks: signed deliveries of conversation and survey events to customers' URLs."""
