"""The worker's embedding engine: model, micro-batchers, FAISS index thread, Redis, and the recommendation store."""
