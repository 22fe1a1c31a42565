"""Holding TensorFlow's native start-up log to TF_CPP_MIN_LOG_LEVEL (tf_nst.startup)."""

import os
import subprocess
import sys

from tests.conftest import ROOT
from tf_nst.startup import is_start_up_noise

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


def kept(min_level):
    return [line for line in START_UP.splitlines() if not is_start_up_noise(line, min_level)]


def test_start_up_noise_follows_the_log_level():
    assert kept(2) == ["E0000 00:00:1796293540.900000    3787 some_file.cc:7] a real error",
                       "Traceback (most recent call last):",
                       "ImportError: something the user must see"]
    assert kept(0) == START_UP.splitlines()  # TF_CPP_MIN_LOG_LEVEL=0: everything
    level_1 = kept(1)
    assert len(level_1) == 4 and "cpu_feature_guard" in level_1[0]
    assert kept(3) == START_UP.splitlines()[-2:]


FILTERED = """
import os, sys
from tf_nst import startup
try:
    with startup.start_up_noise_filtered():
        os.write(2, b'I0000 00:00:1.5 1 cudart_stub.cc:31] noise\\n')
        print('kept from Python', file=sys.stderr)
        os.write(2, b'kept from C\\n')
        raise RuntimeError('inside')
except RuntimeError as err:
    print('caught', err, file=sys.stderr)
print('after', file=sys.stderr)
"""


def test_filtered_standard_error_passes_the_rest_on_as_it_comes():
    done = subprocess.run([sys.executable, "-c", FILTERED], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=60)
    assert done.returncode == 0
    assert done.stderr == "kept from Python\nkept from C\ncaught inside\nafter\n"


def test_a_closed_standard_error_runs_the_block_unfiltered():
    code = ("import sys; sys.stderr = None\nfrom tf_nst import startup\n"
            "with startup.start_up_noise_filtered():\n    print('ran')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0 and done.stdout == "ran\n", done.stderr
