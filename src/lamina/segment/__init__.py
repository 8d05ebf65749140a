"""Semantic segmentation: U-Net training on the synthetic shapes set, pixel accuracy and IoU."""
