"""Self-diagnosis: training monitors, detectors with named remedies, the remedy runner and the lr finder."""
