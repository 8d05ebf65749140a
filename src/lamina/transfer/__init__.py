"""Transfer learning: backbones from run folders, freezing, gradual unfreezing, cached features,
and self-supervised pretraining (see lamina.transfer.selfsup)."""
