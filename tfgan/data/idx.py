"""Reader for the IDX format of the original MNIST files (optionally gzip-compressed).

Format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero bytes, one type byte,
one byte giving the number of dimensions, then one big-endian uint32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IDXError(ValueError):
    """A file is not a valid IDX file; the message names the file."""


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (plain or `.gz`) into a NumPy array.

    Args:
      path: the file's path.

    Returns:
      An array of the file's shape, in native byte order.

    Raises:
      FileNotFoundError: the file does not exist.
      IDXError: the file is truncated, not gzip when named `.gz`, or has a bad header.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise IDXError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'a file'}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _DTYPES:
        raise IDXError(f"{path}: unknown IDX data type 0x{type_code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = _DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXError(
            f"{path}: expected {expected} data bytes for shape {shape}, found {len(raw) - header} "
            "(truncated or corrupt file)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_file(directory: str, stem: str) -> str:
    """The path of IDX file `stem` in `directory`, under any of the names it is distributed as.

    Raises:
      FileNotFoundError: none of them is there.
    """
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}: no file {stem}[.gz] (expected the original MNIST IDX file names)")


def load_mnist_idx(directory: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Loads MNIST-format images and labels from a directory of the four original IDX files.

    Works for any IDX data set that uses MNIST's file names (Fashion-MNIST, KMNIST, ...).

    Args:
      directory: folder holding `train-images-idx3-ubyte[.gz]` etc.
      split: "train" or "test".

    Returns:
      (images uint8 [N, H, W, 1], labels int64 [N]).
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    img_stem, lbl_stem = MNIST_FILES[split]
    img_path, lbl_path = find_file(directory, img_stem), find_file(directory, lbl_stem)
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3:
        raise IDXError(f"{img_path}: expected 3 dimensions [N, H, W], found shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise IDXError(f"{lbl_path}: expected {images.shape[0]} labels, found shape {labels.shape}")
    return images[..., None].astype(np.uint8), labels.astype(np.int64)
