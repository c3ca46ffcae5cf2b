"""The swarm core: everything that knows Docker and the model, and nothing of the web (no Django, no Channels)."""
