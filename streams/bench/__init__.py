"""`helpstream bench`: every throughput and latency figure of helpstream, side by side from one run."""
