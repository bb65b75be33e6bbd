"""One writer per directory: an OS lock that a kill -9 releases, naming its holder to whoever is refused.
Imports nothing heavy, so a command can take the lock before it imports TensorFlow."""

from __future__ import annotations

import json
import os

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
