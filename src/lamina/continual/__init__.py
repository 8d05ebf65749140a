"""Continual learning: task sequences, strategies (naive, EWC, replay, LwF) and forgetting metrics."""
