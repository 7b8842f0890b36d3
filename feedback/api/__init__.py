"""/api/v1/surveys/: survey answers (read-only) and survey policies (supervisors)."""
