"""Autoencoders, VAEs and GANs as runs: training, embeddings, sampling, anomaly scores and mode-collapse checks."""
