"""Long runs survive interruptions: checkpoint + resume after SIGKILL, SIGINT/SIGTERM leave a
partial image (never a half-written output), NaN/Inf stops the run and keeps the last good image.

The runs that are killed or signalled are real processes; the runs that resume them, and those
that only end, run in the test process (tests/in_process.py)."""

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.conftest import ROOT
from tests.in_process import tf_nst
from tests.test_batch import PRECISIONS
from tf_nst import checkpoint, health, images, optimizers
from tf_nst.batch import stylize_frames
from tf_nst.config import Config
from tf_nst.transfer import StyleTransfer

# Small enough to be quick, long enough to be killed in the middle.
RUN = ["--image_size=40", "--checkpoint_every=5", "--print_every=1", "--optimizer=lbfgs"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, image_files):
    folder = tmp_path_factory.mktemp("inputs")
    for name, out in (("cat.png", "content.png"), ("galaxies.jpg", "style.png")):
        image = Image.open(image_files / name).convert("RGB")
        image.thumbnail((64, 64))
        image.save(folder / out)
    return folder


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "tf_nst", *args], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Signalled(threading.Thread):
    """``tf-nst ARGS`` started in a process that this thread sends ``signum`` at its first line
    of standard error starting with ``prefix`` (SIGKILL: no handler runs, only the checkpoints
    on disk survive), while the test goes on; ``stderr`` is all the process wrote there."""

    def __init__(self, args, prefix, signum=signal.SIGKILL):
        super().__init__(daemon=True)
        self.proc, self.prefix, self.signum, self.seen = start(*args), prefix, signum, []
        self.sent = False
        self.start()

    def run(self):
        for line in self.proc.stderr:
            self.seen.append(line)
            if line.startswith(self.prefix) and not self.sent:
                self.proc.send_signal(self.signum)
                self.sent = True
        self.proc.wait()

    def returncode(self) -> int:
        """The process's exit status once it has ended; AssertionError if it ended unsignalled."""
        self.join(timeout=300)
        if self.is_alive():
            self.proc.kill()
        assert not self.is_alive() and self.sent, (
            f"run ended before {self.prefix!r}:\n{self.stderr}")
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return "".join(self.seen)


def tool_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("tf-nst")]


def test_sigkill_then_resume_ends_exactly_like_an_uninterrupted_run(inputs, tmp_path, vgg_weights):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out.png"
    args = [f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.png'}",
            f"--output={out}", f"--checkpoint_dir={ckpt}", "--num_steps=30", *RUN]
    killed = Signalled(args, "step 12:")
    # Meanwhile the same run without interruption, in this process.
    config = Config(image_size=40, num_steps=30, optimizer="lbfgs")
    reference = StyleTransfer(str(inputs / "content.png"), str(inputs / "style.png"), config)
    final_image = reference.run()
    assert killed.returncode() == -signal.SIGKILL and not out.exists()
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("ckpt-10")

    resumed = tf_nst(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 10" in resumed.stderr
    assert "step 11:" in resumed.stderr and "step 10:" not in resumed.stderr
    assert np.array_equal(np.asarray(Image.open(out)), images.to_uint8(final_image))
    # Bitwise: the whole optimiser state at step 30, L-BFGS history included.
    reader = tf.train.load_checkpoint(str(ckpt / "ckpt-30"))
    for name, value in zip(reference.state._fields, reference.state):
        stored = reader.get_tensor(f"state/{name}/.ATTRIBUTES/VARIABLE_VALUE")
        assert np.array_equal(stored, np.asarray(value)), name  # the pairs' slots saved stacked


SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture(scope="module")
def signalled(inputs, tmp_path_factory, vgg_weights):
    """``{signum: (folder, run)}``: a run sent SIGINT, another SIGTERM, each at its step 7 and in
    its own folder (the two processes run at the same time)."""
    runs = {}
    for signum in SIGNALS:
        folder = tmp_path_factory.mktemp(signal.Signals(signum).name)
        # --overwrite allows replacing the output only with a finished image.
        (folder / "out.png").write_bytes(b"precious")
        runs[signum] = folder, Signalled([
            f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.png'}",
            f"--output={folder / 'out.png'}", f"--checkpoint_dir={folder / 'ckpt'}",
            "--num_steps=100000", "--overwrite", *RUN], "step 7:", signum)
    for _, run in runs.values():
        run.join(timeout=300)
    return runs


@pytest.mark.parametrize("signum", SIGNALS)
def test_signal_writes_a_partial_image_and_never_the_output(signum, signalled, inputs):
    folder, run = signalled[signum]
    ckpt, out, stderr = folder / "ckpt", folder / "out.png", run.stderr
    assert run.returncode() == 128 + signum, stderr
    assert "Traceback" not in stderr
    lines = tool_lines(stderr)
    assert len(lines) == 2 and lines[1].startswith("tf-nst: error: interrupted by "
                                                   f"{signal.Signals(signum).name} at step "), stderr
    step = int(lines[1].split(" at step ")[1].split("/")[0])
    assert step >= 7 and "PARTIAL" in lines[1] and "out.partial.png" in lines[1]
    assert out.read_bytes() == b"precious"
    partial = Image.open(folder / "out.partial.png")
    assert partial.size == (40, 30) and partial.format == "PNG"
    # Nothing else left around: no temporary file, the checkpoint holds the interrupted step.
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt", "out.partial.png", "out.png"]
    assert tf.train.latest_checkpoint(str(ckpt)).endswith(f"ckpt-{step}")
    if signum == signal.SIGINT:  # finishing the run supersedes the partial image
        done = tf_nst(f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.png'}",
                      f"--output={out}", f"--checkpoint_dir={ckpt}", f"--num_steps={step + 1}",
                      "--overwrite", *RUN)
        assert done.returncode == 0 and f"resuming at step {step}" in done.stderr, done.stderr
        assert Image.open(out).size == (40, 30)
        assert sorted(p.name for p in folder.iterdir()) == ["ckpt", "out.png"]


# init=content makes the content loss 0 at step 1 (in float32: targets and steps round alike);
# from step 2 on alpha * loss overflows (the printed sums: the mean-form loss stays far below
# float32's largest value).
DIVERGING = ["--image_size=32", "--optimizer=adam", "--content_weight=1e38",
             "--formulation=printed", "--precision=float32"]


def test_diverging_run_stops_with_the_cause_and_keeps_the_last_good_image(inputs, tmp_path,
                                                                           vgg_weights):
    out = tmp_path / "out.png"
    result = tf_nst(f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.png'}",
                    f"--output={out}", "--num_steps=20", *DIVERGING)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = tool_lines(result.stderr)[-1]
    assert error.startswith("tf-nst: error: the total loss became NaN or Inf at step 2 (adam")
    assert "--content_weight" in error and "--learning_rate" in error
    assert "PARTIAL image of step 1" in error
    assert not out.exists()
    assert Image.open(tmp_path / "out.partial.png").size == (32, 24)


def test_a_diverging_batch_stops_with_one_line_naming_the_cause(inputs, tmp_path, vgg_weights):
    out = tmp_path / "out"
    result = tf_nst(f"--content={inputs / 'content.png'},{inputs / 'style.png'}",
                    f"--style={inputs / 'style.png'}", f"--output={out}/", "--num_steps=3",
                    *DIVERGING)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in tool_lines(result.stderr) if line.startswith("tf-nst: error")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("tf-nst: error: the total loss became NaN or Inf at step 2 (adam")
    assert "--content_weight" in errors[0] and errors[0].endswith("; 0 of 2 images written")
    # As in a run of one image: the last good image of the batch that diverged, as a partial.
    assert [p.name for p in out.glob("*")] == ["content.partial.png"]


def test_video_frames_are_checked_like_every_run(small_pair, vgg_weights):
    content, style = small_pair
    config = Config(image_size=32, optimizer="adam", num_steps=3, content_weight=1e38,
                    formulation="printed", precision="float32")
    with pytest.raises(health.NumericalError, match="^the total loss became NaN or Inf at step 2"):
        stylize_frames([content, content], style, config)


def test_step_keeps_the_last_good_state_when_the_loss_turns_nan(small_pair, vgg_weights):
    st = StyleTransfer(*small_pair, Config(image_size=32, optimizer="adam", num_steps=10))
    real_step, calls = st.stepper._step, []

    def failing_step(state, targets, weights):
        calls.append(1)
        state, terms, finite = real_step(state, targets, weights)
        if len(calls) == 4:  # as if the loss had overflowed at the 4th step
            terms = dict(terms, total=terms["total"] * np.nan)
            finite = health.all_finite(st.optimizer.image(state), terms["total"])
        return state, terms, finite

    st.stepper._step = failing_step
    st.step(3)
    good = st.image
    with pytest.raises(health.NumericalError) as err:
        st.run()
    assert err.value.step == 4 and st.steps_done == 3
    assert "step 4" in str(err.value) and "\n" not in str(err.value)
    assert np.array_equal(st.image, good) and np.isfinite(good).all()


def test_all_finite_flags_nan_and_inf_in_image_or_loss():
    image, loss = tf.zeros([1, 2, 2, 3]), tf.ones([1])
    assert bool(health.all_finite(image, loss))
    assert not bool(health.all_finite(image, loss * np.inf))
    assert not bool(health.all_finite(tf.fill([1, 2, 2, 3], np.nan), loss))


def test_likely_cause_names_precision_and_learning_rate():
    message = health.describe(Config(precision="mixed_float16", optimizer="adam",
                                      learning_rate=5.0), 7, {"total": float("nan"), "style": 1.0})
    assert message.startswith("the total loss became NaN or Inf at step 7")
    assert "--precision=mixed_bfloat16" in message and "--learning_rate=5" in message


def test_checkpoint_round_trip_and_foreign_checkpoint_is_refused(tmp_path):
    opt = optimizers.Lbfgs(history=3)
    state = opt.init(tf.random.stateless_uniform([1, 5, 4, 3], seed=[1, 2]))
    state = state._replace(iteration=state.iteration + 7)
    config = Config(image_size=5)
    mine = checkpoint.fingerprint(config, state.x)
    saver = checkpoint.Checkpointer(tmp_path, mine)
    assert saver.restore(state) is None
    for step in (5, 10, 15):
        saver.save(state, step)
    restored = saver.restore(opt.init(tf.zeros([1, 5, 4, 3])))
    assert restored.steps_done == 15 and restored.path.endswith("ckpt-15")
    for name, a, b in zip(state._fields, state, restored.state):
        assert type(a) is type(b), name  # the pairs come back as slots, as they were saved
        a, b = tf.nest.flatten(a), tf.nest.flatten(b)
        assert len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y)
                                        for x, y in zip(a, b)), name
    assert sorted(os.listdir(tmp_path))[0] == "checkpoint"
    assert not any(name.startswith("ckpt-5.") for name in os.listdir(tmp_path))  # keeps 2

    # num_steps is not part of the fingerprint (a run may be extended); anything else is.
    assert checkpoint.fingerprint(config.replace(num_steps=9), state.x) == mine
    other = checkpoint.fingerprint(config.replace(style_weight=2.0), state.x)
    assert other != mine
    assert checkpoint.fingerprint(config, state.x + 0.5) != mine
    with pytest.raises(checkpoint.CheckpointError, match="different run.*--overwrite"):
        checkpoint.Checkpointer(tmp_path, other).restore(state)
    checkpoint.Checkpointer(tmp_path, other).discard()
    assert os.listdir(tmp_path) == []


def test_checkpoint_follows_the_resolved_precision_not_the_flag(tmp_path, monkeypatch):
    """--precision=auto is the run's arithmetic on the machine that resolves it: a checkpoint
    continues with the same arithmetic named explicitly, and is refused, naming the --precision
    that continues it, where auto resolves to another one."""
    opt = optimizers.Lbfgs(history=2)
    state = opt.init(tf.random.stateless_uniform([1, 4, 4, 3], seed=[3, 4]))
    auto = Config(image_size=4)  # precision="auto"
    monkeypatch.setenv("TF_NST_AUTO_PRECISION", "mixed_bfloat16")
    on_bf16_machine = checkpoint.fingerprint(auto, state.x)
    assert checkpoint.fingerprint(auto.replace(precision="mixed_bfloat16"), state.x) == (
        on_bf16_machine)
    assert checkpoint.Checkpointer.for_run(tmp_path, auto, state.x).fingerprint == on_bf16_machine
    checkpoint.Checkpointer.for_run(tmp_path, auto, state.x).save(state, 3)

    monkeypatch.setenv("TF_NST_AUTO_PRECISION", "float32")
    on_f32_machine = checkpoint.fingerprint(auto, state.x)
    assert on_f32_machine != on_bf16_machine
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"computed in mixed_bfloat16 .* would compute in float32 .*"
                             r"--precision=mixed_bfloat16 to continue"):
        checkpoint.Checkpointer.for_run(tmp_path, auto, state.x).restore(state)
    # Another flag changed as well: --precision alone would not continue it, so it is not named.
    with pytest.raises(checkpoint.CheckpointError, match="a different run") as err:
        checkpoint.Checkpointer.for_run(tmp_path, auto.replace(style_weight=7.0), state.x
                                        ).restore(state)
    assert "--precision" not in str(err.value)
    explicit = auto.replace(precision="mixed_bfloat16")
    restored = checkpoint.Checkpointer.for_run(tmp_path, explicit, state.x).restore(state)
    assert restored.steps_done == 3


def test_coarse_to_fine_fingerprint_fixes_the_coarse_steps_only():
    config = Config(image_size=64, scales=2, num_steps=10, steps_per_scale=(4, 6))
    mine = checkpoint.fingerprint(config)
    # The finest scale may be continued for longer ...
    assert checkpoint.fingerprint(config.replace(num_steps=20, steps_per_scale=(4, 16))) == mine
    # ... but other coarse steps would put the saved image at another size.
    assert checkpoint.fingerprint(config.replace(steps_per_scale=(5, 5))) != mine
    even = Config(image_size=64, scales=2, num_steps=10)  # 5 + 5
    assert checkpoint.fingerprint(even.replace(num_steps=12)) != checkpoint.fingerprint(even)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_coarse_to_fine_run_resumes_at_the_scale_it_stopped_in(small_pair, tmp_path, vgg_weights,
                                                                precision):
    content, style = small_pair
    config = Config(image_size=64, scales=2, num_steps=4, steps_per_scale=(2, 2),
                    optimizer="lbfgs", precision=precision)
    reference = StyleTransfer(content, style, config)
    start = reference.raw_image
    want = reference.run()

    first = StyleTransfer(content, style, config)
    second = StyleTransfer(content, style, config)
    for stop in (1, 2, 3):  # in the coarse scale, at its end, in the fine one
        first.run(stop - first.steps_done)
        saver = checkpoint.Checkpointer(tmp_path / str(stop), "this run")
        saver.save(first.checkpoint_state(), first.steps_done)
        restored = saver.restore(second.seek)
        assert restored.steps_done == stop == second.steps_done
        assert second.scale == (0 if stop < 2 else 1)
        assert restored.state.x.shape == first.state.x.shape
        second.restore_state(restored.state, restored.steps_done)
        np.testing.assert_array_equal(second.run(), want)
        # Seeking back to 0 starts again from the initial image at the coarse size.
        second.seek(0)
        assert second.scale == 0 and second.steps_done == 0
        np.testing.assert_array_equal(second.raw_image, start)


def test_fingerprint_covers_every_style_of_a_blend_and_the_masks(small_pair, vgg_weights):
    content, style = small_pair
    config = Config(image_size=32, num_steps=1)
    mask = np.ones((8, 8), np.float32)

    def digest(styles, **masks):
        st = StyleTransfer(content, styles, config, **masks)
        return checkpoint.fingerprint(config, *st.inputs)

    blend = digest([style, content])
    assert digest([style, 1.0 - content]) != blend  # only the second style differs
    assert digest([style, content], style_masks=[mask, 1.0 - mask]) != blend
    assert digest([style, content], content_mask=mask) != blend
    assert digest([style, content]) == blend


@pytest.mark.parametrize("mode, kill_at", [("batch", "tf-nst: batch 2/2 | step 6:"),
                                           ("video", "tf-nst: frame 2/3 | step 6:")])
def test_a_killed_batch_or_video_resumes_to_the_files_of_an_uninterrupted_run(
        mode, kill_at, inputs, tmp_path, image_files, vgg_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = Image.open(inputs / "content.png")
    cat.save(photos / "a.png")
    cat.transpose(Image.FLIP_LEFT_RIGHT).save(photos / "b.png")  # same size: one batch with a
    Image.open(image_files / "waves.png").resize((30, 40)).save(photos / "c.png")
    common = [f"--content={photos}/*.png", f"--style={inputs / 'style.png'}", "--image_size=40",
              "--scales=2", "--scale_factor=1.25", "--num_steps=8", "--original_colors",
              "--color_transfer=histogram",
              "--print_every=1", "--checkpoint_every=1", "--optimizer=lbfgs"]
    common += ["--video"] if mode == "video" else []
    args = [*common, f"--output={tmp_path / 'out'}/", f"--checkpoint_dir={tmp_path / 'ck'}"]
    killed = Signalled(args, kill_at)  # in the fine scale of the second job
    reference = tf_nst(*common, f"--output={tmp_path / 'reference'}/")  # meanwhile, uninterrupted
    assert reference.returncode == 0, reference.stderr
    assert killed.returncode() == -signal.SIGKILL
    finished = sorted(os.listdir(tmp_path / "out"))
    assert finished == (["a.png", "b.png"] if mode == "batch" else ["a.png"])

    resumed = tf_nst(*args)
    assert resumed.returncode == 0, resumed.stderr
    label = kill_at.split(" | ")[0].split(": ")[1]
    assert f"{label}: resuming at step " in resumed.stderr, resumed.stderr  # 5 or 6
    assert f"{len(finished)} done before" in resumed.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png", "c.png"]
    for name in ("a.png", "b.png", "c.png"):
        assert (tmp_path / "out" / name).read_bytes() == (
            tmp_path / "reference" / name).read_bytes(), name


def test_a_tiled_run_resumes_mid_visit_to_the_image_of_an_uninterrupted_run(small_pair, tmp_path,
                                                                             vgg_weights):
    """The tiles' checkpoint (canvas, the sweep's changes, the visit, its optimiser state) taken
    in the middle of a tile's visit, restored into a fresh run, ends with the same image."""
    config = Config(image_size=80, tile_size=64, tile_overlap=16, num_steps=6, optimizer="lbfgs",
                    stop_tolerance=0)
    want = StyleTransfer(*small_pair, config).run()
    first = StyleTransfer(*small_pair, config)
    first.run(4)
    assert first.tiles.state is not None  # 4 steps of 2 tiles: inside the 3rd of 4 visits
    saver = checkpoint.Checkpointer(tmp_path, "this run")
    saver.save(first.checkpoint_state(), first.steps_done)
    second = StyleTransfer(*small_pair, config)
    restored = saver.restore(second.seek)
    second.restore_state(restored.state, restored.steps_done)
    np.testing.assert_array_equal(second.run(), want)
