"""The agent-side REST API of the conversation core (/api/v1/)."""
