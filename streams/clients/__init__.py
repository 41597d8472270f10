"""What other teams run against helpstream: producers of contract events, a recommendations reader, HTTP."""
