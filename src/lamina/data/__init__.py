"""Data: builtin sets, CSV and NPZ readers, splits, preprocessing fitted on train, batching."""
