"""Bolt listeners, one module per Slack surface. Each records state before ack() and talks to Slack after."""
