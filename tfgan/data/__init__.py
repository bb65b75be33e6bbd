"""Real data as tf.data pipelines: sources (embedded digits, IDX, image folders, TFDS, toys) and batching."""

from tfgan.data.pipeline import make_dataset, scale_to_range
from tfgan.data.sources import SOURCE_NAMES, DataSpec, Source, get_source
from tfgan.data.toy import Mixture, get_toy

__all__ = ["DataSpec", "Mixture", "SOURCE_NAMES", "Source", "get_source", "get_toy", "make_dataset",
           "scale_to_range"]
