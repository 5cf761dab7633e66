"""Loopback fakes of the services the bot talks to: real HTTP servers on 127.0.0.1, port 0."""
