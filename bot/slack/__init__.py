"""Everything that talks to Slack's Web API goes through bot.slack.gateway."""
