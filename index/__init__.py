"""The content index: the encoder, its micro-batcher, the FAISS vector index and the embedding cache.

Nothing here knows about Kafka or Faust; the agents and web views drive it.
"""
