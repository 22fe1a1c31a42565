"""Start TensorFlow for a command, holding its native start-up log to ``TF_CPP_MIN_LOG_LEVEL``.

TensorFlow's C++ libraries log while they load and look for GPUs, before their logging is set up,
so ``TF_CPP_MIN_LOG_LEVEL`` does not reach those lines (e.g. "failed call to cuInit" on a machine
with CUDA's libraries and no GPU). While :func:`start_tensorflow` imports TensorFlow, standard
error goes through a pipe that passes every other line on as it arrives: an import error or a
fatal message before a crash still reaches the user.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import threading
from typing import Callable, Iterator

_PRE_INIT_WARNING = ("WARNING: All log messages before absl::InitializeLog() is called are "
                     "written to STDERR")
# absl/glog line prefix: severity letter, date (MMDD), time, thread id, file:line]
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] ")
_LEVEL = {"I": 0, "W": 1, "E": 2, "F": 3}


def is_start_up_noise(line: str, min_level: int) -> bool:
    """Whether a start-up line is below ``min_level`` (TF_CPP_MIN_LOG_LEVEL: 1 drops INFO, 2
    WARNING too, 3 ERROR too). From level 1 on, absl's pre-initialisation warning and the CUDA
    driver's failure to initialise (which only says that there is no usable GPU) count as noise."""
    if min_level >= 1 and (line.rstrip("\n") == _PRE_INIT_WARNING
                           or "failed call to cuInit" in line):
        return True
    match = _NATIVE_LINE.match(line)
    return bool(match) and _LEVEL[match.group(1)] < min_level


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _forward(source: int, target: int, min_level: int) -> None:
    with os.fdopen(source, "rb") as lines:
        for raw in lines:
            if not is_start_up_noise(raw.decode("utf-8", "replace"), min_level):
                os.write(target, raw)


@contextlib.contextmanager
def start_up_noise_filtered() -> Iterator[None]:
    """Standard error (the file descriptor, which native code writes to) passes through
    :func:`is_start_up_noise` inside the block, line by line as it comes. Where standard error
    cannot be redirected (closed, or no pipe to be had), the block runs unfiltered."""
    try:
        sys.stderr.flush()
        read_end, write_end = os.pipe()
    except (AttributeError, OSError):  # sys.stderr None (2>&-), or no descriptors left
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        yield
        return
    forwarder = threading.Thread(target=_forward, args=(read_end, saved, _min_level()),
                                 name="tf-nst start-up log", daemon=True)
    forwarder.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the forwarder reads to its end
        forwarder.join(timeout=5.0)  # (unless native code kept a copy of that end)
        if not forwarder.is_alive():
            os.close(saved)


@functools.cache
def start_tensorflow() -> None:
    """Import TensorFlow and find its devices, once per process, without the native start-up log
    below ``TF_CPP_MIN_LOG_LEVEL`` (``tf_nst`` sets it to 2 unless it is set)."""
    with start_up_noise_filtered():
        import tensorflow as tf
        tf.config.list_physical_devices()


def reporting_on_stderr(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """A command's ``main`` with Python's ``sys.stdout`` (where Keras reports a weights download)
    sent to standard error, where the command reports everything. The flags' help, printed before
    ``main``, still goes to standard output."""

    def reporting(argv: list[str]) -> int:
        with contextlib.redirect_stdout(sys.stderr):
            return main(argv)

    return reporting
