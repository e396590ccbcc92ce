"""Building blocks shared by models (transformers, flows, autoregressive rollout, ...)."""
