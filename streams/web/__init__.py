"""The worker's HTTP side: `/search`, `/recommendations/{chat_id}`, `/healthz` and the Prometheus `/metrics`."""
