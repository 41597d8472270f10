"""`helpstream demo` and its data: Banking77-derived CMS content and held-out chats, shipped as package data."""
