"""Training: the loop, optimizers and schedules, losses, callbacks and checkpoints."""
