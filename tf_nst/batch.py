"""Many content images, one style (or one blend of styles): batches optimised together, on one
device or many, and the frames of a video in order.

>>> results = stylize_batch(["a.jpg", "b.jpg", "c.jpg"], "painting.jpg", Config(image_size=256))
>>> frames = stylize_frames(["f001.png", "f002.png"], "painting.jpg", Config(image_size=256))

Images of one size are optimised together as one :class:`~tf_nst.transfer.StyleTransfer` of a
``[B, H, W, 3]`` batch, so everything a single run does applies, and each result equals that
image stylised alone (the optimisers' every scalar is per image; up to the rounding of batched
convolutions). Under a ``tf.distribute`` strategy each replica optimises its share; replicas
never communicate, and :func:`stylize_batch` returns ``None`` for the images other workers made.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Callable, Collection, Sequence

import numpy as np
import tensorflow as tf

from tf_nst import images
from tf_nst.config import Config
from tf_nst.driver import Driver, Hooks, Status, make_jobs, plan_batches  # noqa: F401 (API)
from tf_nst.inputs import ImageLike, as_image, check_large_enough
from tf_nst.transfer import StyleTransfer

OUTPUT_FORMATS = ("png", "jpg", "jpeg")


def expand_contents(spec: str) -> list[str]:
    """The content files named by ``spec``: comma-separated paths and/or glob patterns, in order
    (each pattern's matches in natural order: ``f2.png`` before ``f10.png``), duplicates dropped.
    A pattern that matches nothing is an error.
    """
    paths: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if glob.has_magic(part):
            matches = sorted((m for m in glob.glob(os.path.expanduser(part))
                              if not os.path.isdir(m)), key=natural_key)
            if not matches:
                raise images.ImageError(f"--content={part}: no file matches this pattern")
            paths.extend(matches)
        else:
            paths.append(part)
    if not paths:
        raise images.ImageError(f"--content={spec!r}: names no image")
    return list(dict.fromkeys(paths))


def natural_key(path: str) -> tuple[list, str]:
    """Sort key that orders the numbers in names by value (``frame_9`` before ``frame_10``), and
    a name before its longer variants (``a.png``, ``a9.png``, ``a10.png``)."""
    root, ext = os.path.splitext(path)
    return ([(0, int(part), "") if part.isdigit() else (1, 0, part)
             for part in re.split(r"(\d+)", root)], ext)


def is_directory_output(output: str) -> bool:
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def is_batch(content_spec: str, output: str) -> bool:
    """Whether the command line asks for batch mode (several contents or an output directory)."""
    return "," in content_spec or glob.has_magic(content_spec) or is_directory_output(output)


def plan_outputs(contents: Sequence[str], output: str, output_format: str | None = None,
                 overwrite: bool = False, done: Collection[str] = ()) -> list[str]:
    """One output path per content image; every problem found before anything runs.
    Outputs in ``done`` (finished by an earlier run of the same command) may exist.

    ``output`` is a directory (``out/``; it must exist): each result is named after its input,
    ``out/<stem>.<output_format>`` (png by default). A name with ``{stem}`` is a template
    (``out/{stem}_starry.jpg``). A plain file name is allowed for a single content image.
    """
    ext = "." + (output_format or "png").lower().lstrip(".")
    if ext[1:] not in OUTPUT_FORMATS:
        raise images.ImageError(f"--output_format={output_format}: must be one of "
                                f"{', '.join(OUTPUT_FORMATS)}")
    if is_directory_output(output):
        if not os.path.isdir(output):
            raise images.ImageError(f"--output={output}: directory does not exist")
        paths = [os.path.join(output, Path(c).stem + ext) for c in contents]
    elif "{stem}" in output:
        paths = [output.replace("{stem}", Path(c).stem) for c in contents]
        if output_format is not None:
            paths = [os.path.splitext(p)[0] + ext for p in paths]
    elif len(contents) == 1:
        paths = [output]
    else:
        raise images.ImageError(f"--output={output}: {len(contents)} content images need an "
                                "output directory (end it with /) or a name with {stem}")
    seen: dict[str, str] = {}
    inputs = {os.path.realpath(c) for c in contents}
    for content, path in zip(contents, paths):
        key = os.path.realpath(path)
        if key in seen:
            raise images.ImageError(f"--output: {seen[key]} and {content} would both be written to "
                                    f"{path}; rename one, or use a name with {{stem}}")
        if key in inputs:
            raise images.ImageError(f"{path}: would overwrite an input image; choose another "
                                    "--output or --output_format")
        seen[key] = content
        images.check_output_path(path, overwrite=overwrite or path in done)
    return paths


def image_sizes(paths: Sequence[ImageLike], config: Config, what: str = "content"
                ) -> list[tuple[int, int]]:
    """The ``(height, width)`` each content image (``what="style"``: each style image) is
    optimised at; reads (and so checks) every file: :class:`~tf_nst.images.ImageError` on the
    first bad one, :class:`~tf_nst.config.ConfigError` on the first too small for the network."""
    side = config.image_size if what == "content" else config.style_side()
    sizes = []
    for path in paths:
        image = as_image(path, config.max_pixels)
        sizes.append(images.scaled_size(image.shape[0], image.shape[1], side))
        check_large_enough(config, what, *sizes[-1])
    return sizes


def stylize_batch(contents: Sequence[ImageLike], style: ImageLike | Sequence[ImageLike],
                  config: Config | None = None, batch_size: int | None = None,
                  strategy: tf.distribute.Strategy | None = None,
                  on_progress: Callable[[Status], None] | None = None,
                  on_result: Callable[[int, np.ndarray], None] | None = None,
                  **masks) -> list[np.ndarray | None]:
    """Stylise every image of ``contents`` with ``style``: an ``H x W x 3`` float32 result each.

    Images of one size are optimised together, at most ``batch_size`` at a time (default: all),
    each as a :class:`~tf_nst.transfer.StyleTransfer` of that batch, so every feature of a single
    run applies. ``style`` may be a list of styles (blended by ``config.style_blend_weights``);
    ``masks`` are StyleTransfer's ``style_masks`` / ``content_mask``.
    ``on_result(index, image)`` is called as each result is ready (to write it at once);
    ``on_progress(status)`` after every step and every batch (:class:`~tf_nst.driver.Status`).
    With a multi-worker ``strategy`` this process returns only its share (``None`` elsewhere).
    """
    config = config or Config()
    if batch_size is not None and batch_size < 0:
        raise ValueError("batch_size must be >= 0")
    jobs = make_jobs(image_sizes(contents, config), video=False, batch_size=batch_size)
    return _collect(on_progress, on_result, contents, style, config, jobs, strategy=strategy,
                    **masks)


def stylize_frames(frames: Sequence[ImageLike], style: ImageLike | Sequence[ImageLike],
                   config: Config | None = None, content_blend: float = 0.0,
                   on_progress: Callable[[Status], None] | None = None,
                   on_result: Callable[[int, np.ndarray], None] | None = None,
                   **masks) -> list[np.ndarray]:
    """Stylise the frames of a video in order, each starting from the previous frame's result.

    The first frame starts as a single run would (``config.init``, ``config.noise_ratio``); every
    later frame starts from the previous result (resized to each scale), blended with
    ``content_blend`` of its own content frame: ``(1 - b) * previous + b * content``. A start
    near the previous result keeps the textures where they were, which reduces flicker; ``b = 1``
    with ``init=content`` and no noise is stylising each frame alone. There is no optical flow:
    moving objects leave ghosts of their previous position that the optimisation must paint over.

    Arguments as :func:`stylize_batch`.
    """
    config = config or Config()
    if not 0.0 <= content_blend <= 1.0:
        raise ValueError("content_blend must be between 0 and 1")
    jobs = make_jobs(range(len(frames)), video=True, batch_size=1)
    return _collect(on_progress, on_result, frames, style, config, jobs,
                    content_blend=content_blend, **masks)


class _Results(Hooks):
    """The library's hooks: results kept (and passed to ``on_result``), progress reported."""

    def __init__(self, count: int, on_progress, on_result) -> None:
        self.results: list[np.ndarray | None] = [None] * count
        self.on_progress = on_progress or (lambda status: None)
        self.on_result = on_result or (lambda index, image: None)

    def stepped(self, driver: Driver, st: StyleTransfer) -> None:
        self.on_progress(driver.status())

    def job_finished(self, driver: Driver, job, st: StyleTransfer) -> None:
        for position, image in zip(st.local_indices, st.images):
            self.results[job.indices[position]] = image
            self.on_result(job.indices[position], image)
        self.on_progress(driver.status())


def _collect(on_progress, on_result, contents, *args, **kwargs) -> list[np.ndarray | None]:
    """The results of a :class:`Driver` of ``contents`` and the other arguments."""
    hooks = _Results(len(contents), on_progress, on_result)
    Driver(contents, *args, hooks, **kwargs).run()
    return hooks.results
