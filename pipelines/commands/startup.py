"""What every command does before its work: import TensorFlow without its C++ start-up notices, and know
whether this process is the one that owns the run directory (no TensorFlow needed for that).

TensorFlow's shared libraries print "All log messages before absl::InitializeLog() ..." and oneDNN /
CPU-feature notices straight to file descriptor 2 while they load, before TF_CPP_MIN_LOG_LEVEL can take
effect, and twice. The commands import TensorFlow with that descriptor pointed at a temporary file and
show the file only if the import fails; `--verbosity=0` or above (absl's flag) shows everything.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def import_tensorflow_quietly(show: bool = False) -> None:
    """Imports tensorflow (and keras) with the C++ start-up notices kept off the terminal.

    Args:
      show: let the notices through (for debugging).
    """
    if show or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def is_chief_process(environ=os.environ) -> bool:
    """Whether this process owns the run directory: always, except non-chief workers of a multi-worker
    cluster described by TF_CONFIG (the rule of `tfgan.trainer.is_chief`, read without TensorFlow)."""
    raw = environ.get("TF_CONFIG")
    if not raw:
        return True
    try:
        config = json.loads(raw)
    except ValueError:
        return True  # a malformed TF_CONFIG is reported by the strategy with its own message
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0) or 0)
    if not kind or kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in (config.get("cluster") or {})
