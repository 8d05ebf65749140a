"""Adversarial robustness: FGSM and PGD attacks, eps sweeps on a run, adversarial training."""
