"""The peers cxhub is measured beside: naive versions and raw limits, mounted only by bench/ settings."""
