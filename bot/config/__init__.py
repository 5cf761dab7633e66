"""Configuration pieces behind bot.settings: YAML schema, environment, error formatting."""
