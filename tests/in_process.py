"""The ``tf-nst`` command run in the test process, for tests about what a run does rather than
about the process itself (signals, SIGKILL, TensorFlow's start-up log, what loads before
TensorFlow): its flags parsed afresh by the command's own parser, its standard output and error
captured, its exit status returned as a subprocess's would be. The network a run builds stays in
:mod:`tf_nst.builder`'s cache, so the runs of a test session share it instead of each process
building its own.

What a run changes in the process is put back: the flags, the SIGINT/SIGTERM handlers
(:class:`tf_nst.run_files.Signals`), Keras' dtype policy, the environment and the working
directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess

from absl import flags

from tests.conftest import ROOT

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _process_state_kept():
    """Inside the block a command may change the process's global state; after it, it is back."""
    import keras

    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS}
    policy, environ, cwd = keras.config.dtype_policy(), dict(os.environ), os.getcwd()
    flags.FLAGS.unparse_flags()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(cwd)
        flags.FLAGS.unparse_flags()
        keras.config.set_dtype_policy(policy)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update(environ)


def _run(main, argv: list[str]) -> subprocess.CompletedProcess:
    """``main(argv)`` with standard output and error captured; SystemExit becomes the status."""
    out, err = io.StringIO(), io.StringIO()
    with _process_state_kept(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return subprocess.CompletedProcess(argv, code or 0, out.getvalue(), err.getvalue())


def tf_nst(*args: str) -> subprocess.CompletedProcess:
    """``tf-nst ARGS`` run to its end in this process: ``returncode``, ``stdout``, ``stderr`` as
    :func:`subprocess.run` gives them (an uncaught exception is raised, not printed)."""
    from tf_nst import cli, startup

    def main(argv: list[str]) -> int:
        return startup.reporting_on_stderr(cli.main)(cli.flag_parser()(argv))
    return _run(main, ["tf-nst", *args])


def visualize(*args: str) -> subprocess.CompletedProcess:
    """``python -m tf_nst.visualize ARGS`` run to its end in this process, as :func:`tf_nst`."""
    from tf_nst.visualize.__main__ import main
    return _run(main, list(args))
