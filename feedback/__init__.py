"""Feedback: surveys, follow-ups and the metrics pipeline."""
