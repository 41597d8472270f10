"""Processes on this machine: free ports, start and stop by pid, Tansu, Apache Kafka, redis-server, workers."""
