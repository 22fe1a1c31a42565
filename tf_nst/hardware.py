"""What the machine computes fast: the precision ``--precision=auto`` resolves to.

Mixed bfloat16 about halves the time of a step where bfloat16 arithmetic is native and costs time
where it is emulated (docs/performance.md), so ``auto`` picks it only where it is native:

* an NVIDIA GPU of compute capability 8.0 or newer (Ampere on), or a TPU;
* with no GPU: a CPU whose flags include ``avx512_bf16`` or ``amx_bf16`` (Cooper Lake, Sapphire
  Rapids, Zen 4 and newer), read from ``/proc/cpuinfo`` (Linux; elsewhere float32).

Anything else (older GPUs, other CPUs) gets float32. The environment variable
``TF_NST_AUTO_PRECISION`` (``float32``, ``mixed_bfloat16`` or ``mixed_float16``) overrides the
detection, e.g. to pin a fleet or a test suite to one arithmetic.
"""

from __future__ import annotations

import functools
import os

BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where it cannot be read)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
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


ENV_OVERRIDE = "TF_NST_AUTO_PRECISION"
EXPLICIT = ("float32", "mixed_bfloat16", "mixed_float16")


def resolve_precision(precision: str) -> str:
    """``precision`` itself, or for ``'auto'`` the one this machine runs fastest:
    ``$TF_NST_AUTO_PRECISION`` if set (``ValueError`` if it names no precision), else
    :func:`detect`."""
    override = os.environ.get(ENV_OVERRIDE)
    if precision != "auto":
        return precision
    if override and override not in EXPLICIT:
        raise ValueError(f"{ENV_OVERRIDE}={override}: must be one of {', '.join(EXPLICIT)}")
    return override or detect()


@functools.lru_cache(maxsize=None)
def _cpu_flags_cached() -> frozenset[str]:
    return cpu_flags()


@functools.lru_cache(maxsize=None)
def _gpu_capabilities() -> tuple[tuple[int, int], ...]:
    """The compute capabilities of the GPUs TensorFlow sees (fixed for a process: cached)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return tuple(capabilities)


def detect() -> str:
    """``choose_precision`` for this machine (asks TensorFlow which devices it has).

    The GPUs and CPU flags are read once; the TPU is looked for on every call, because a TPU
    appears only once ``tf.tpu.experimental.initialize_tpu_system`` has run (e.g. by
    :func:`tf_nst.distribute.make_strategy`), which may come after a first call."""
    import tensorflow as tf

    has_tpu = bool(tf.config.list_logical_devices("TPU"))
    return choose_precision(list(_gpu_capabilities()), has_tpu, _cpu_flags_cached())
