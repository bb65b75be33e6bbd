"""How the commands end on an expected failure: one line naming the flag, file or input and the cause,
an exit code by kind, and no traceback. Anything else is a bug and keeps its traceback.

Exit codes: 2 a bad flag, input or data (or a locked directory), 3 a NaN/Inf stopped training, 4 a gate
stopped the pipeline, 5 the file system refused (permission, read-only, disk full, a path that is a file).
"""

from __future__ import annotations

import errno
import sys

BAD_INPUT, NON_FINITE, STOPPED, FILE_SYSTEM = 2, 3, 4, 5

_FILE_SYSTEM_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR,
                       errno.EISDIR, errno.EDQUOT, errno.EFBIG, errno.EIO}


def classify(error: BaseException) -> tuple[int, str] | None:
    """(exit code, one line) for an expected failure, or None for a bug."""
    from tfgan.locks import DirectoryLockedError
    if isinstance(error, DirectoryLockedError):
        return BAD_INPUT, str(error)
    if isinstance(error, OSError) and error.errno in _FILE_SYSTEM_ERRNOS:
        where = f"{error.filename}: " if error.filename else ""
        return FILE_SYSTEM, f"{where}{error.strerror or error}" + _hint(error.errno)
    if isinstance(error, (ValueError, FileNotFoundError)):
        return BAD_INPUT, _first_line(error)
    if "tensorflow" in sys.modules:
        import tensorflow as tf
        from tfgan.trainer import NonFiniteLossError
        if isinstance(error, NonFiniteLossError):
            return NON_FINITE, str(error)
        if isinstance(error, (tf.errors.PermissionDeniedError, tf.errors.ResourceExhaustedError,
                              tf.errors.FailedPreconditionError, tf.errors.NotFoundError,
                              tf.errors.AlreadyExistsError, tf.errors.UnknownError)) and _is_file_error(error):
            return FILE_SYSTEM, _first_line(error) + _hint_from_text(str(error))
    return None


def report(error: BaseException) -> int:
    """Prints the one line of an expected failure and returns its exit code; re-raises anything else."""
    classified = classify(error)
    if classified is None:
        raise error
    code, line = classified
    print(f"error: {line}", file=sys.stderr)
    return code


def _first_line(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:600] if lines else type(error).__name__


_FILE_WORDS = ("No space left", "Read-only file system", "Permission denied", "Not a directory", "Is a directory",
               "File exists", "Disk quota", "Input/output error", "Failed to create", "Could not create",
               "Failed to rename", "not writable")


def _is_file_error(error) -> bool:
    return any(word in str(error) for word in _FILE_WORDS)


def _hint(code: int) -> str:
    return {errno.ENOSPC: " (the disk is full: free space, then run the same command to resume from the last "
                          "checkpoint)",
            errno.EROFS: " (a read-only file system: choose a writable directory)",
            errno.EACCES: " (no permission: choose a directory you can write)",
            errno.EEXIST: " (a file is in the way of a directory)",
            errno.ENOTDIR: " (part of the path is a file, not a directory)"}.get(code, "")


def _hint_from_text(text: str) -> str:
    for word, code in (("No space left", errno.ENOSPC), ("Read-only", errno.EROFS),
                       ("Permission denied", errno.EACCES), ("Not a directory", errno.ENOTDIR)):
        if word in text:
            return _hint(code)
    return ""
