"""The Faust application of helpstream: settings, topics, tables, web views and the `helpstream` CLI."""
