"""Start TensorFlow for a command, holding its native start-up log to ``TF_CPP_MIN_LOG_LEVEL``.

TensorFlow's C++ libraries log while they load and look for GPUs, before their logging is set up,
so ``TF_CPP_MIN_LOG_LEVEL`` does not reach those lines ("WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR", "cudart_stub.cc] Could not find cuda
drivers", "failed call to cuInit" on a machine with CUDA's libraries and no GPU). The commands
import TensorFlow and list its devices inside :func:`started`, which sends the process's standard
error to a file meanwhile and then passes on every line but those: anything else printed then (an
import error, a real device problem) still reaches the user, only later.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

_PRE_INIT_WARNING = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl/glog line prefix: severity letter, date (MMDD), time, thread id, file:line]
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] ")
_LEVEL = {"I": 0, "W": 1, "E": 2, "F": 3}
_started = False


def kept_lines(text: str, min_level: int) -> str:
    """``text`` (start-up output) without absl's pre-initialisation warning, the native lines
    below ``min_level`` (TF_CPP_MIN_LOG_LEVEL: 1 drops INFO, 2 WARNING too, 3 ERROR too), and
    the CUDA driver's failure to initialise, which only says that there is no usable GPU."""
    out = []
    for line in text.splitlines(keepends=True):
        match = _NATIVE_LINE.match(line)
        if line.rstrip("\n") == _PRE_INIT_WARNING:
            continue
        if match and (_LEVEL[match.group(1)] < min_level or "failed call to cuInit" in line):
            continue
        out.append(line)
    return "".join(out)


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


@contextlib.contextmanager
def _standard_error_filtered() -> Iterator[None]:
    """Standard error (the file descriptor, which native code writes to) goes to a temporary file
    inside the block and is passed on through :func:`kept_lines` after it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = kept_lines(held.read().decode("utf-8", "replace"), _min_level())
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


def started() -> None:
    """Import TensorFlow and find its devices, once per process, without the native start-up log
    below ``TF_CPP_MIN_LOG_LEVEL`` (``tf_nst`` sets it to 2 unless it is set)."""
    global _started
    if _started:
        return
    with _standard_error_filtered():
        import tensorflow as tf
        tf.config.list_physical_devices()
    _started = True
