"""Deploy Bot: production deployments run by a Markdown checklist in Slack."""

__version__ = "0.1.0"
