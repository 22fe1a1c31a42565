"""What the machine computes fast: the precision ``--precision=auto`` resolves to.

Mixed bfloat16 is faster where bfloat16 arithmetic is native and slower where it is emulated
(docs/performance.md), so ``auto`` picks it only on a TPU, an NVIDIA GPU of compute capability
8.0 or newer (Ampere on) or, with no GPU, a CPU whose flags in ``/proc/cpuinfo`` (Linux only)
include ``avx512_bf16`` or ``amx_bf16`` (Cooper Lake, Sapphire Rapids, Zen 4 on); anything else
gets float32. ``$TF_NST_AUTO_PRECISION`` (``float32``, ``mixed_bfloat16`` or ``mixed_float16``)
overrides the detection, e.g. to pin a fleet or a test suite to one arithmetic.
"""

from __future__ import annotations

import contextlib
import functools
import os

BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
ENV_OVERRIDE = "TF_NST_AUTO_PRECISION"
EXPLICIT = ("float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where it cannot be read)."""
    with contextlib.suppress(OSError), open(cpuinfo) as f:
        for line in f:
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def choose_precision(gpu_capabilities: list[tuple[int, int]], has_tpu: bool,
                     flags: frozenset[str]) -> str:
    """The precision ``auto`` means for a machine described by its GPUs' compute capabilities,
    whether it has a TPU, and its CPU flags (a pure function, for tests)."""
    if has_tpu:
        return "mixed_bfloat16"
    if gpu_capabilities:  # the step runs on the GPU: its arithmetic decides
        return "mixed_bfloat16" if min(gpu_capabilities) >= (8, 0) else "float32"
    return "mixed_bfloat16" if flags & BFLOAT16_CPU_FLAGS else "float32"


def resolve_precision(precision: str) -> str:
    """``precision`` itself, or for ``'auto'`` the one this machine runs fastest:
    ``$TF_NST_AUTO_PRECISION`` if set (``ValueError`` if it names no precision), else
    :func:`detect`."""
    if precision != "auto":
        return precision
    override = os.environ.get(ENV_OVERRIDE)
    if override and override not in EXPLICIT:
        raise ValueError(f"{ENV_OVERRIDE}={override}: must be one of {', '.join(EXPLICIT)}")
    return override or detect()


_cpu_flags_cached = functools.lru_cache(maxsize=None)(cpu_flags)  # read once: fixed for a process


@functools.lru_cache(maxsize=None)
def _gpu_capabilities() -> tuple[tuple[int, int], ...]:
    """The compute capabilities of the GPUs TensorFlow sees (fixed for a process: cached)."""
    import tensorflow as tf

    details = [tf.config.experimental.get_device_details(gpu)
               for gpu in tf.config.list_physical_devices("GPU")]
    return tuple(tuple(d.get("compute_capability") or (0, 0)) for d in details)


def detect() -> str:
    """``choose_precision`` for this machine. The GPUs and CPU flags are read once; the TPU is
    looked for on every call, as it appears only once ``tf.tpu.experimental.initialize_tpu_system``
    has run (e.g. in :func:`tf_nst.distribute.make_strategy`), which may follow a first call."""
    import tensorflow as tf

    has_tpu = bool(tf.config.list_logical_devices("TPU"))
    return choose_precision(list(_gpu_capabilities()), has_tpu, _cpu_flags_cached())
