"""`helpstream tune`: contrastive fine-tuning of a ladder model on the CMS's own example queries, on the CPU."""
