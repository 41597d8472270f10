"""Where events live: topic names, partitions and replication, the replicated table, topic creation."""
