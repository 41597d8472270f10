"""The model registry: which model answers, which are candidates, and what each measured on live chats.

`state` changes a registry (pure), `figures` tallies and merges what workers measure, `gates` decides whether a
candidate may be promoted, `channel` reads and writes the compacted control topic.
"""
