"""--precision=auto: mixed bfloat16 only where the machine computes bfloat16 natively."""

import pytest

from tf_nst import hardware
from tf_nst.config import Config, ConfigError

ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "amx_bf16", "amx_tile"})
ZEN3 = frozenset({"avx2", "fma"})


@pytest.mark.parametrize("gpus, tpu, flags, expected", [
    ([], False, ZEN4, "mixed_bfloat16"),
    ([], False, SAPPHIRE_RAPIDS, "mixed_bfloat16"),
    ([], False, ZEN3, "float32"),             # bfloat16 would be emulated: slower
    ([], False, frozenset(), "float32"),      # flags unknown (not Linux)
    ([(8, 0)], False, ZEN3, "mixed_bfloat16"),  # A100: the GPU decides, not the CPU
    ([(7, 5)], False, ZEN4, "float32"),       # T4: no bfloat16 units
    ([(8, 6), (7, 0)], False, ZEN4, "float32"),  # the slowest GPU decides
    ([], True, ZEN3, "mixed_bfloat16"),       # TPU
])
def test_choose_precision(gpus, tpu, flags, expected):
    assert hardware.choose_precision(gpus, tpu, flags) == expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert hardware.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_bf16"}
    assert hardware.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_auto_is_the_default_and_resolves_to_a_real_precision(monkeypatch):
    assert Config().precision == "auto"
    assert hardware.detect() in ("float32", "mixed_bfloat16")
    monkeypatch.delenv(hardware.ENV_OVERRIDE, raising=False)
    assert Config().compute_precision == hardware.detect()
    monkeypatch.setenv(hardware.ENV_OVERRIDE, "mixed_bfloat16")
    assert Config().compute_precision == "mixed_bfloat16"
    for explicit in hardware.EXPLICIT:
        assert Config(precision=explicit).compute_precision == explicit


def test_a_bad_override_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv(hardware.ENV_OVERRIDE, "float8")
    with pytest.raises(ConfigError, match="^TF_NST_AUTO_PRECISION=float8: must be one of"):
        Config().compute_precision


def test_a_tpu_initialised_after_the_first_call_is_seen(monkeypatch):
    """make_strategy('tpu') may run after auto was first resolved: the TPU is looked up afresh."""
    import tensorflow as tf

    monkeypatch.setattr(hardware, "_gpu_capabilities", lambda: ())
    monkeypatch.setattr(hardware, "_cpu_flags_cached", lambda: ZEN3)
    devices = []
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: list(devices) if kind == "TPU" else [])
    assert hardware.detect() == "float32"
    devices.append("TPU:0")  # what initialize_tpu_system makes appear
    assert hardware.detect() == "mixed_bfloat16"
