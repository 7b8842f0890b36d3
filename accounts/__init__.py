"""Agent accounts: two-factor authentication, sessions, scoped API tokens, the audit export,
workspace settings (retention among them) and backups."""
