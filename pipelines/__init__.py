"""The training pipeline: typed configs, absl flags (entry points only) and stages ingest -> train -> export."""
