"""Faust agents, one per consumed topic, registered against the app they are given.

`chat` (chat.started → recommendations) and `content` (content.updated → content-vectors table). Their handlers
take every dependency as an argument (`agents.ports`), so unit tests drive them with fakes and no broker.
"""
