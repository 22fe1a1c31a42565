"""What the ``tf-nst`` command does once its flags are read, the same way in every mode: check
everything (every input read, every output name free, no two inputs written to one file), plan
the jobs, run them with :class:`tf_nst.driver.Driver` and the command's hooks
(:class:`tf_nst.run_files.CommandHooks`), writing each result as its job ends, and say how it
ended.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from absl import flags

if TYPE_CHECKING:
    from tf_nst.config import Config


def check_video_flags(flag_values: flags.FlagValues) -> None:
    """:class:`~tf_nst.config.ConfigError` for video flags that cannot go together (checked
    before TensorFlow loads)."""
    from tf_nst import modes
    from tf_nst.config import ConfigError

    if flag_values["video_content_blend"].present and not flag_values.video:
        raise ConfigError("--video_content_blend: only with --video")
    if flag_values.video:
        strategy, batch_size = flag_values.strategy, flag_values.batch_size
        modes.check("video", {
            "strategy": f"--strategy={strategy}" if strategy != "default" else None,
            "batch_size": f"--batch_size={batch_size}" if batch_size else None})


def make_output_directory(output: str) -> list[str]:
    """Make a missing ``--output`` directory (``out/``: ending in a separator) and its parents;
    the directories made, outermost first, for :func:`remove_directories`."""
    if not output.endswith(("/", os.sep)) or os.path.isdir(output):
        return []
    folder = Path(os.path.abspath(output))
    missing = [str(p) for p in reversed([folder, *folder.parents]) if not p.exists()]
    os.makedirs(output, exist_ok=True)
    return missing


def remove_directories(made: list[str]) -> None:
    """Remove the directories :func:`make_output_directory` made, if still empty."""
    for folder in reversed(made):
        try:
            os.rmdir(folder)
        except OSError:
            return


def plan_run(FLAGS: flags.FlagValues, config: Config):
    """``(plan, strategy, config)``, everything checked before the run (ConfigError, ImageError,
    StrategyError, ResourceError). The strategy comes first: a multi-worker one must set up its
    collective ops before TensorFlow initialises its devices, which resolving
    ``--precision=auto`` does (it looks for TPUs)."""
    from tf_nst import batch, driver, images, run_files
    from tf_nst.config import INIT_NAMED
    from tf_nst.distribute import make_strategy

    strategy = make_strategy(FLAGS.strategy, FLAGS.tpu)
    config.resolved_style_blend_weights(len(FLAGS.style))  # one weight per style
    several = batch.is_batch(FLAGS.content, FLAGS.output) or "{stem}" in FLAGS.output
    contents = batch.expand_contents(FLAGS.content) if several or FLAGS.video else [FLAGS.content]
    batch.image_sizes(FLAGS.style, config, "style")
    extra = [*(FLAGS.style_masks or []), *([FLAGS.content_mask] if FLAGS.content_mask else [])]
    if config.init not in INIT_NAMED:
        extra.append(os.fspath(config.init))
    for path in extra:
        images.read_image(path, max_pixels=config.max_pixels)
    sizes = batch.image_sizes(contents, config)
    keys = run_files.output_keys(config, contents, FLAGS.style, extra, FLAGS.video)
    provisional = batch.plan_outputs(contents, FLAGS.output, FLAGS.output_format, overwrite=True)
    finished = run_files.read_finished(FLAGS.checkpoint_dir, provisional, keys)
    previous = None
    if FLAGS.video:
        finished, previous = run_files.video_resumed(finished, FLAGS.checkpoint_dir)
    outputs = batch.plan_outputs(contents, FLAGS.output, FLAGS.output_format, FLAGS.overwrite,
                                 done={provisional[i] for i in finished})
    config = resolve(FLAGS, config, *max(sizes, key=lambda s: s[0] * s[1]))
    jobs = driver.make_jobs(sizes, FLAGS.video, FLAGS.batch_size or None)
    plan = run_files.Plan(contents, outputs, sizes, jobs, keys, finished, FLAGS.video, previous)
    return plan, strategy, config


def resolve(FLAGS: flags.FlagValues, config: Config, height: int, width: int) -> Config:
    """``config`` with ``--scales=0`` and ``--tile_size=-1`` resolved for the largest output;
    :class:`~tf_nst.resources.ResourceError` if it cannot fit (styles counted as square)."""
    from tf_nst import resources
    side, limit = config.style_side(), FLAGS.memory_limit_gb * resources.GB or None
    memory = dict(style_height=side, style_width=side, checkpointing=bool(FLAGS.checkpoint_dir))
    config = resources.resolve(config, height, width, resources.memory_budget(limit), **memory)
    if FLAGS.check_memory:
        resources.check(config, height, width, limit, **memory)
    return config


def first_line(FLAGS: flags.FlagValues, config: Config, plan, replicas: int) -> str:
    """What the run will do, in one line (the command's name is added by the caller)."""
    count, blend = len(plan.contents), config.resolved_style_blend_weights(len(FLAGS.style))
    if plan.single:
        head = f"{plan.sizes[0][1]}x{plan.sizes[0][0]} px"
    elif plan.video:
        head = (f"{count} frames in order, each from the previous result (content blend "
                f"{FLAGS.video_content_blend:g}), {config.image_size} px")
    else:
        head = (f"{count} images in {len(plan.jobs)} batches, {replicas} replica(s) "
                f"({FLAGS.strategy}), {config.image_size} px")
    if len(blend) > 1:
        head += f", {len(blend)} styles blended {'/'.join(f'{w:.2g}' for w in blend)}"
    schedule = ("" if config.scales == 1 else
                f" (coarse to fine: {'/'.join(map(str, config.scale_steps))} steps at "
                f"{'/'.join(map(str, config.scale_sizes))} px)")
    tiled = [str(size) for size in config.scale_sizes if config.tiled(size)]
    if tiled:
        schedule += (f" in tiles of {config.tile_size} px at {'/'.join(tiled)} px "
                     f"({config.tile_sweeps} sweeps)")
    precision = config.compute_precision + (" (auto)" if config.precision == "auto" else "")
    preset = f", preset {FLAGS.preset}" if FLAGS.preset else ""
    done = f", {len(plan.finished)} done before" if plan.finished else ""
    return (f"{head}, {config.optimizer}, {precision}, {config.num_steps} steps{schedule}, "
            f"content_weight={config.content_weight:g} style_weight={config.style_weight:g} "
            f"({config.formulation}){preset}{done}")


def expected_time(config: Config, plan) -> str | None:
    """For outputs of 1024 px and more, the time to expect from this machine's measured rate
    (:mod:`tf_nst.timing`)."""
    from tf_nst import timing
    if config.image_size < 1024:
        return None
    height, width = max(plan.sizes, key=lambda s: s[0] * s[1])
    per_job = timing.time_line(config, height, width, timing.measure_rate(config))
    return per_job + (f" per job, {len(plan.jobs)} jobs" if len(plan.jobs) > 1 else "")


def ramp_warning(config: Config) -> str | None:
    """A warning when a scale ends before the style-weight ramp does, else None."""
    from tf_nst.objective import LossWeights, ramped_weights
    ramp, shortest = config.style_ramp_steps, min(config.scale_steps)
    if not 0 < shortest < ramp:
        return None
    unit = LossWeights.from_config(config)._replace(style=1.0)  # the ramp's factor alone
    reached = float(ramped_weights(unit, shortest).style)
    return (f"warning: {shortest} steps end before the style-weight ramp "
            f"(--style_ramp_steps={ramp}): the style weight reaches only {reached:.2g} x "
            "--style_weight; lower --style_ramp_steps or set it to 0")


def main(FLAGS: flags.FlagValues, config: Config, signals, program: str,
         fail: Callable[..., None]) -> int:
    """Plans, runs and reports the command for ``config``, the flags' hyper-parameters."""
    from tf_nst import images, resources
    from tf_nst.config import ConfigError
    from tf_nst.distribute import StrategyError

    try:
        made = make_output_directory(FLAGS.output)
    except OSError as err:
        fail(f"--output={FLAGS.output}: cannot create the directory ({err.strerror or err})")
    try:
        plan, strategy, config = plan_run(FLAGS, config)
    except (ConfigError, images.ImageError, StrategyError, resources.ResourceError) as err:
        remove_directories(made)
        fail(str(err), 2 if isinstance(err, ConfigError) else 1)
    return _drive(FLAGS, config, plan, strategy, signals, program, fail)


def _logger(tag: str) -> Callable[..., None]:
    """``log(message, tagged=True)``: a line on stderr, after the progress bar's line."""
    stream = sys.stderr
    interactive = bool(getattr(stream, "isatty", lambda: False)())

    def log(message: str, tagged: bool = True) -> None:
        line = f"{tag}: {message}" if tagged else message
        print(("\r\x1b[K" if interactive else "") + line, file=stream, flush=True)
    return log


def _drive(FLAGS, config, plan, strategy, signals, program: str, fail) -> int:
    """Runs the checked ``plan``; one line for how it ended."""
    import signal as signal_names

    from tf_nst import batch, builder, driver, images, run_files
    from tf_nst.checkpoint import CheckpointError
    from tf_nst.config import ConfigError
    from tf_nst.distribute import worker_index
    from tf_nst.features import WeightsError
    from tf_nst.health import NumericalError
    from tf_nst.summaries import LogdirError

    worker = worker_index(strategy)
    log = _logger(f"{program}[worker {worker}]" if FLAGS.strategy == "multi_worker" else program)
    hooks = run_files.CommandHooks(FLAGS, config, plan, signals, log, worker)
    run = driver.Driver(plan.contents, FLAGS.style, config, plan.jobs, hooks, strategy=strategy,
                        guard=signals.critical, done_before=plan.finished,
                        content_blend=FLAGS.video_content_blend if plan.video else None,
                        style_masks=FLAGS.style_masks, content_mask=FLAGS.content_mask)
    try:
        run.parts = builder.build(config, len(FLAGS.style), strategy)  # the network: seconds
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        log(first_line(FLAGS, config, plan, replicas))
        for line in filter(None, [ramp_warning(config), expected_time(config, plan)]):
            log(line)
        run.run(plan.previous)
    except (run_files.Stop, KeyboardInterrupt) as stop:
        signals.ignore()
        signum = stop.signum if isinstance(stop, run_files.Stop) else signal_names.SIGINT
        name = signal_names.Signals(signum).name
        st = run.transfer
        where = "" if st is None else f" at step {st.steps_done}/{config.num_steps}"
        fail(f"interrupted by {name}{where}; {hooks.leave_partial(st)}", 128 + signum)
    except NumericalError as err:
        signals.ignore()
        fail(f"{err}; {hooks.leave_partial(run.transfer)}")
    except ConfigError as err:
        fail(str(err), 2)
    except (images.ImageError, CheckpointError, WeightsError, LogdirError) as err:
        suffix = "" if plan.single else f" ({hooks.leave_partial(run.transfer)})"
        fail(f"{err}{suffix}")
    if plan.single:
        log(f"wrote {plan.outputs[0]} ({hooks.reason})" if hooks.written
            else f"{plan.outputs[0]} was finished before")
    else:
        unit = "frames" if plan.video else "images"
        into = f" into {FLAGS.output}" if batch.is_directory_output(FLAGS.output) else ""
        skipped = f" ({len(plan.finished)} finished before)" if plan.finished else ""
        log(f"wrote {len(hooks.written)} {unit}{into}{skipped}")
    return 0
