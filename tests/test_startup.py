"""Holding TensorFlow's native start-up log to TF_CPP_MIN_LOG_LEVEL (tf_nst.startup)."""

import os
import subprocess
import sys

from tests.conftest import ROOT
from tf_nst.startup import kept_lines

START_UP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796293537.839498    3787 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
    "W0000 00:00:1796293537.900000    3787 cpu_feature_guard.cc:12] Some warning\n"
    "E0000 00:00:1796293540.882819    3787 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
    "E0000 00:00:1796293540.900000    3787 some_file.cc:7] a real error\n"
    "Traceback (most recent call last):\n"
    "ImportError: something the user must see\n"
)


def test_kept_lines_follow_the_log_level():
    assert kept_lines(START_UP, 2).splitlines() == [
        "E0000 00:00:1796293540.900000    3787 some_file.cc:7] a real error",
        "Traceback (most recent call last):", "ImportError: something the user must see"]
    assert "cpu_feature_guard" in kept_lines(START_UP, 1)
    assert "cudart_stub" in kept_lines(START_UP, 0)
    assert "a real error" not in kept_lines(START_UP, 3)
    assert "absl::InitializeLog" not in kept_lines(START_UP, 0)  # says nothing to a user
    assert kept_lines("plain text\n", 3) == "plain text\n"


def test_started_passes_on_what_is_printed_meanwhile():
    """A subprocess: standard error goes back to the terminal after the block, with what the
    block printed that is not start-up noise."""
    code = ("import os, sys; from tf_nst import startup\n"
            "with startup._standard_error_filtered():\n"
            "    os.write(2, b'I0000 00:00:1.5 1 cudart_stub.cc:31] noise\\n')\n"
            "    print('kept from Python', file=sys.stderr)\n"
            "    os.write(2, b'kept from C\\n')\n"
            "print('after', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "kept from Python\nkept from C\nafter\n"
