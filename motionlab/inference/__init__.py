"""Inference: load an experiment, generate, write outputs (arrays, BVH, video)."""
