"""The demo workspace's people (`manage.py seed_demo`; the start page lists their logins in development)."""

DEMO_PASSWORD = "cxhub-demo-2026"

USERS = [
    # username, display name, supervisor, staff
    ("supervisor", "Sam Supervisor", True, True),
    ("alice", "Alice Agent", False, False),
    ("bob", "Bob Agent", False, False),
]
