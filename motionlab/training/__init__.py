"""Training: option aggregation (options.py), the entry point (train.py) and callbacks."""
