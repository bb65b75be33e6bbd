"""Test setup: two logical CPU devices (for the 2-replica equality tests), quiet TensorFlow, shared paths."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgan import distribute  # noqa: E402

# Must happen before TensorFlow initialises its devices, i.e. before any test runs an op.
distribute.split_cpu(2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The real MNIST IDX files, for the few tests that need them: $TFGAN_MNIST_DIR, else ../shared/data/mnist beside
# the repository. Where neither holds them, those tests skip and say so.
MNIST_DIR = os.environ.get("TFGAN_MNIST_DIR") or os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")


def has_mnist_files() -> bool:
    return all(os.path.exists(os.path.join(MNIST_DIR, f"{stem}.gz")) for stem in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


@pytest.fixture
def mnist_dir():
    if not has_mnist_files():
        pytest.skip(f"the real MNIST IDX files are not in {MNIST_DIR} (set TFGAN_MNIST_DIR to their directory)")
    return MNIST_DIR


@pytest.fixture(autouse=True)
def _float32_policy():
    import keras
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


_MIRRORED = []


def mirrored_two_cpus():
    """One MirroredStrategy over two logical CPUs for the whole session.

    Strategies created one after another in a process number their collective ops from the same keys; once
    a test runs more collectives than an earlier one (synchronised batch norm in both networks, several
    critic steps), an instance key meets the earlier strategy's op of another shape and the collective
    aborts ("Shape mismatch in the collective instance"). A pipeline run has one strategy per process.
    """
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs two logical CPU devices (set up in conftest before TensorFlow initialises)")
    if not _MIRRORED:
        _MIRRORED.append(tf.distribute.MirroredStrategy([d.name for d in cpus[:2]]))
    return _MIRRORED[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for TF_CONFIG clusters of local worker processes)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
