"""Writing files so that no reader ever sees half of one: write a temporary sibling, then rename it.

A rename within one file system is atomic on POSIX systems, so a reader (TensorBoard, a model server, a
resumed run, a person) sees either the old file or the complete new one, never a truncated one, whatever
kills the writer in between. Temporary names start with "." and end with ".tmp" so that listings can skip
them.
"""

from __future__ import annotations

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


def write_atomic(path: str, data: bytes | str) -> str:
    """Writes `data` to `path` through a temporary sibling and a rename; returns `path`."""
    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    tmp = temporary_sibling(path)
    try:
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        raise
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


# --- one writer per directory ------------------------------------------------------------------------------

LOCK_FILE = ".lock"


class DirectoryLockedError(RuntimeError):
    """Another live process holds the directory's lock; the message names it (pid, host, start time)."""


class DirectoryLock:
    """An exclusive OS lock on a directory (`fcntl.flock` on `<directory>/.lock`), held while in use.

    The operating system releases the lock when its holder exits in any way, kill -9 included, so a stale
    lock never blocks: the file stays, but nobody holds it. The file records the holder (pid, host, start
    time, command) so that a refused process can say who has the directory.

        with DirectoryLock(run_dir):
            ...   # the only writer of run_dir

    Raises (on entering):
      DirectoryLockedError: another process holds the lock.
    """

    def __init__(self, directory: str, what: str = "directory"):
        self.directory, self.what = directory, what
        self.path = os.path.join(directory, LOCK_FILE)
        self._fd = None

    def acquire(self) -> "DirectoryLock":
        import fcntl
        import socket
        import sys
        import time

        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.holder() or {}
            os.close(fd)
            started = holder.get("started", "?")
            raise DirectoryLockedError(
                f"{self.what} {self.directory} is locked by pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {started} ({holder.get('command', '?')}); wait for it to "
                f"finish or stop it, or use another {self.what}") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def holder(self) -> dict | None:
        """Who holds (or last held) the lock, as recorded in the lock file."""
        try:
            with open(self.path) as f:
                return json.loads(f.read() or "null")
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            import fcntl
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
