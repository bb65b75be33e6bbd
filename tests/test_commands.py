"""How commands end: one line and an exit code by kind for every expected failure, a traceback for bugs."""

import errno

import pytest
import tensorflow as tf

from pipelines.commands import errors, startup
from tfgan.locks import DirectoryLock, DirectoryLockedError


@pytest.mark.parametrize("error, code, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/srv/runs/x"), 5, ["/srv/runs/x: Permission denied",
                                                                          "no permission"]),
    (OSError(errno.ENOSPC, "No space left on device", "/r/checkpoints/ckpt-3_temp"), 5,
     ["ckpt-3_temp: No space left on device", "the disk is full", "resume"]),
    (OSError(errno.EROFS, "Read-only file system", "/ro/run"), 5, ["/ro/run: Read-only file system", "writable"]),
    (FileExistsError(errno.EEXIST, "File exists", "/r/file"), 5, ["/r/file: File exists", "a file is in the way"]),
    (tf.errors.ResourceExhaustedError(None, None, "/r/ckpt-9_temp/part-0; No space left on device"), 5,
     ["No space left on device", "the disk is full"]),
    (tf.errors.PermissionDeniedError(None, None, "/r/events.out; Permission denied"), 5, ["/r/events.out"]),
    (ValueError("--data_dir='/x': no such directory\nmore"), 2, ["--data_dir='/x': no such directory"]),
    (FileNotFoundError("no checkpoint in /r/checkpoints"), 2, ["no checkpoint in /r/checkpoints"]),
])
def test_expected_failures_are_one_line_with_their_exit_code(error, code, words, capsys):
    assert errors.report(error) == code
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and line.startswith("error: ")
    for word in words:
        assert word in line, line


def test_bugs_keep_their_traceback():
    with pytest.raises(KeyError):
        errors.report(KeyError("a bug"))
    assert errors.classify(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")) is None


def test_a_lock_names_its_holder_and_is_released_with_it(tmp_path):
    with DirectoryLock(str(tmp_path), "run directory") as held:
        assert held.holder()["pid"] > 0
        with pytest.raises(DirectoryLockedError, match=rf"run directory {tmp_path} is locked by pid \d+ on .* since "):
            DirectoryLock(str(tmp_path), "run directory").acquire()
    with DirectoryLock(str(tmp_path), "run directory"):  # released: free again
        pass


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}', True),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}', False),
    ('{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}', False),
    ('{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', True),
])
def test_the_chief_is_known_without_tensorflow(tf_config, chief):
    environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
    assert startup.is_chief_process(environ) is chief
