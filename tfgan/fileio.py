"""Writing files so that no reader ever sees half of one: write a temporary sibling, then rename it.

A rename within one file system is atomic on POSIX systems, so a reader (TensorBoard, a model server, a
resumed run, a person) sees either the old file or the complete new one, never a truncated one, whatever
kills the writer in between. Temporary names start with "." and end with ".tmp" so that listings can skip
them.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid

import tensorflow as tf

TMP_SUFFIX = ".tmp"


def temporary_sibling(path: str) -> str:
    """A unique hidden name in the directory of `path`, for writing before the rename."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")


def is_temporary(name: str) -> bool:
    """Whether a directory entry is an unfinished write of `temporary_sibling`."""
    base = os.path.basename(name.rstrip("/"))
    return base.startswith(".") and base.endswith(TMP_SUFFIX)


@contextlib.contextmanager
def renamed_into_place(path: str, overwrite: bool = True):
    """Yields a temporary sibling of `path` to write (a file or a directory); renames it to `path` when the
    block ends normally, deletes it when the block raises.

    Raises:
      tf.errors.AlreadyExistsError: `path` exists and `overwrite` is False (the temporary is deleted).
    """
    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        tf.io.gfile.rename(tmp, path, overwrite=overwrite)
    except BaseException:
        if tf.io.gfile.isdir(tmp):
            tf.io.gfile.rmtree(tmp)
        elif tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        raise


def write_atomic(path: str, data: bytes | str) -> str:
    """Writes `data` to `path` through a temporary sibling and a rename; returns `path`."""
    with renamed_into_place(path) as tmp:
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_json_atomic(path: str, value, indent: int = 2) -> str:
    """Writes `value` as JSON to `path` atomically (see `write_atomic`)."""
    return write_atomic(path, json.dumps(value, indent=indent, sort_keys=False) + "\n")


def remove_stale_temporaries(directory: str, prefix: str = ".") -> list[str]:
    """Deletes unfinished writes (`is_temporary`) whose names start with `prefix` in `directory`.

    Call only where no other writer can be at work in `directory` (e.g. under the run lock).
    """
    if not tf.io.gfile.isdir(directory):
        return []
    removed = []
    for name in tf.io.gfile.listdir(directory):
        name = name.rstrip("/")
        if is_temporary(name) and name.startswith(prefix):
            path = os.path.join(directory, name)
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
            removed.append(path)
    return removed
