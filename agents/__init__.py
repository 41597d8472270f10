"""Faust agents, one per consumed topic: `chat` (chat.started) and `content` (content.updated)."""
