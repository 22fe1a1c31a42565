"""Checkpoint and resume a long run (``tf-nst --checkpoint_dir=DIR``).

A checkpoint holds the optimiser's whole state (for L-BFGS the curvature history and the pending
line-search trial too), the number of steps done and a fingerprint of the run, so a resumed run
ends with the same image as an uninterrupted one. The state is a ``NamedTuple`` of tensors, not
variables (a served graph keeps no state): it is copied into ``tf.Variable`` s only to save or
restore. ``tf.train.CheckpointManager`` replaces the index file last, atomically, so a run killed
at any moment leaves the previous checkpoint readable. What the fingerprint covers and which runs
can be continued: docs/reliability.md, "Checkpoints and resume".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

FORMAT_VERSION = 1
MAX_TO_KEEP = 2  # the newest checkpoints kept
_NOT_FINGERPRINTED = ("num_steps", "steps_per_scale")  # see coarse_scale_steps


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; ``str(err)`` is one line saying what to do."""


def fingerprint(config, *images) -> str:
    """A SHA-256 hex digest identifying a run: ``config`` but ``num_steps``, and ``images``.

    Its precision is the arithmetic the run computes in, not the flag (``auto`` and what it
    resolves to are the same run). The steps of the coarse scales are part of it (they decide
    which size the saved image has): only the finest scale can be continued for longer."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_FINGERPRINTED}
    fields["precision"] = config.compute_precision
    fields["coarse_scale_steps"] = list(config.scale_steps[:-1])
    digest = hashlib.sha256(json.dumps({"format": FORMAT_VERSION, "config": fields},
                                       sort_keys=True, default=str).encode())
    for image in images:
        array = np.asarray(image)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class Restored(NamedTuple):
    state: tuple
    steps_done: int
    path: str


class Checkpointer:
    """Saves and restores ``(optimiser state, steps done)`` of one run in ``directory``."""

    def __init__(self, directory: str | os.PathLike, run_fingerprint: str,
                 precision: str | None = None,
                 fingerprint_in: Callable[[str], str] | None = None) -> None:
        """``precision``: the run's resolved arithmetic, saved beside the state; with
        ``fingerprint_in`` (this run's fingerprint computed in another arithmetic), a checkpoint
        that differs from this run only in that arithmetic (``--precision=auto`` resolves per
        machine) is refused with the ``--precision`` that continues it."""
        self.directory = os.fspath(directory)
        self.fingerprint = run_fingerprint
        self.precision = precision
        self.fingerprint_in = fingerprint_in

    @classmethod
    def for_run(cls, directory: str | os.PathLike, config, *images) -> "Checkpointer":
        """The checkpointer of the run of ``config`` on ``images`` (see :func:`fingerprint`)."""
        return cls(directory, fingerprint(config, *images), precision=config.compute_precision,
                   fingerprint_in=lambda p: fingerprint(config.replace(precision=p), *images))

    def _checkpoint(self, state, steps_done: int, fingerprint: str,
                    precision: str | None = None) -> tf.train.Checkpoint:
        extra = {} if precision is None else {
            "precision": tf.Variable(precision, dtype=tf.string, trainable=False)}
        return tf.train.Checkpoint(
            steps_done=tf.Variable(steps_done, dtype=tf.int64, trainable=False),
            fingerprint=tf.Variable(fingerprint, dtype=tf.string, trainable=False),
            state={name: tf.Variable(_stacked(value), trainable=False)
                   for name, value in zip(type(state)._fields, state)}, **extra)

    def save(self, state, steps_done: int) -> str:
        """Writes a checkpoint numbered ``steps_done``; returns its path prefix."""
        verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(min(verbosity, absl_logging.WARNING))  # TF logs INFO per save
        try:
            os.makedirs(self.directory, exist_ok=True)
            ckpt = self._checkpoint(state, steps_done, self.fingerprint, self.precision)
            manager = tf.train.CheckpointManager(ckpt, self.directory, MAX_TO_KEEP)
            return manager.save(checkpoint_number=steps_done)
        except (OSError, tf.errors.OpError) as err:
            raise CheckpointError(f"--checkpoint_dir={self.directory}: cannot write a checkpoint "
                                  f"({_one_line(err)})") from None
        finally:
            absl_logging.set_verbosity(verbosity)

    def restore(self, template) -> Restored | None:
        """The newest checkpoint's state, or None if there is none.

        ``template`` is a state shaped like the saved one, or a function of the saved step count
        that returns one (a coarse-to-fine run changes size between scales; see
        :meth:`tf_nst.transfer.StyleTransfer.seek`). It is called only for a checkpoint of this run.
        Raises :class:`CheckpointError` for a checkpoint of another run or one that cannot be read.
        """
        path = tf.train.latest_checkpoint(self.directory)  # the newest complete one
        if path is None:
            return None
        try:
            reader = tf.train.load_checkpoint(path)
            stored = _saved(reader, "fingerprint").decode()
            steps_done = int(_saved(reader, "steps_done"))
        except (tf.errors.OpError, KeyError, ValueError) as err:
            raise self._unusable("unreadable checkpoint", path, err) from None
        if stored != self.fingerprint:
            raise self._other_run(reader, stored)
        if callable(template):
            template = template(steps_done)
        ckpt = self._checkpoint(template, 0, "")
        try:  # the manager's save_counter is not ours to restore
            ckpt.restore(path).expect_partial().assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as err:
            raise self._unusable("cannot restore", path, err) from None
        state = type(template)(*(_like(ckpt.state[name].read_value(), value)
                                 for name, value in zip(template._fields, template)))
        return Restored(state, int(ckpt.steps_done.numpy()), path)

    def _unusable(self, what: str, path: str, err: BaseException) -> CheckpointError:
        return CheckpointError(f"--checkpoint_dir={self.directory}: {what} "
                               f"{os.path.basename(path)} ({_one_line(err)}); pass --overwrite "
                               "to discard it")

    def _other_run(self, reader, stored: str) -> CheckpointError:
        """The error for a checkpoint of another run, or of this run in other arithmetic."""
        key = "precision/.ATTRIBUTES/VARIABLE_VALUE"
        saved = reader.get_tensor(key).decode() if reader.has_tensor(key) else None
        if (saved and saved != self.precision and self.fingerprint_in is not None
                and self.fingerprint_in(saved) == stored):
            return CheckpointError(
                f"--checkpoint_dir={self.directory} holds a run computed in {saved} and this one "
                f"would compute in {self.precision} (--precision=auto resolves per machine); pass "
                f"--precision={saved} to continue it, or --overwrite to start again")
        return CheckpointError(
            f"--checkpoint_dir={self.directory} holds a checkpoint of a different run (other "
            "flags or input images); use another --checkpoint_dir, or pass --overwrite to "
            "discard it and start again")

    def discard(self) -> None:
        """Deletes this directory's checkpoints (only the files CheckpointManager writes)."""
        if not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            if name == "checkpoint" or name.startswith("ckpt-"):
                os.unlink(os.path.join(self.directory, name))


def _saved(reader, name: str):
    """The saved value of the checkpoint's variable ``name``."""
    return reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")


def _stacked(value):
    """A state field as one tensor: a tuple of slots (L-BFGS' curvature pairs) is saved stacked,
    ``[m, ...]``, so the file does not depend on how the optimiser holds them."""
    return tf.stack(value) if isinstance(value, tuple) else value


def _like(saved: tf.Tensor, template):
    """A saved field in the form of the template's field (the inverse of :func:`_stacked`)."""
    return tuple(tf.unstack(saved, num=len(template))) if isinstance(template, tuple) else saved


def _one_line(err: BaseException) -> str:
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    return " ".join(text.split())[:200]
