"""The commands' front door: short --help, neural-style's flags, the closest flag to a mistyped
one, and an --output directory made when missing. All but two tests run without TensorFlow."""

import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from PIL import Image

from tests.conftest import ROOT
from tests.in_process import tf_nst
from tf_nst import aliases, usage
from tf_nst.aliases import AliasError, translate
from tf_nst.command import make_output_directory, remove_directories
from tf_nst.config import fields

ACCEPTANCE = ["-content_image", "C", "-style_image", "S", "-output_image", "O", "-image_size", "32",
              "-num_iterations", "2", "-init", "random", "-original_colors", "1",
              "-print_iter", "1", "-save_iter", "0"]


def command(module, *args, env=None):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


# Runs a command's parser and main up to where it stops, then reports its exit status, whether
# TensorFlow was loaded and CUDA_VISIBLE_DEVICES: flag errors must answer before TensorFlow loads.
PROBE = """
import os, sys
from tf_nst import {module} as command
sys.argv = ["prog", *sys.argv[1:]]
try:
    command.run()
except SystemExit as exit_:
    print(exit_.code, "tensorflow" in sys.modules, os.environ.get("CUDA_VISIBLE_DEVICES"))
"""


def probe(*args, module="cli"):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return subprocess.run([sys.executable, "-c", PROBE.format(module=module), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


# --- neural-style's vocabulary (tf_nst.aliases), without TensorFlow -------------------------------
def test_the_neural_style_command_line_becomes_tf_nsts_flags():
    assert translate(["tf-nst", *ACCEPTANCE]) == (
        ["tf-nst", "--content=C", "--style=S", "--output=O", "--image_size=32", "--num_steps=2",
         "--init=noise", "--original_colors=true", "--print_every=1", "--save_every=0"], [], {})


@pytest.mark.parametrize("args, expected", [
    (["-init", "image"], ["--init=content"]),
    (["-init=random"], ["--init=noise"]),
    (["-init", "style"], ["--init=style"]),  # tf-nst's own values pass
    (["-original_colors", "0"], ["--original_colors=false"]),
    (["-style_image", "a.jpg,b.jpg", "-style_blend_weights", "3,1"],
     ["--style=a.jpg,b.jpg", "--style_blend_weights=3,1"]),
    (["--content_image=c.png", "--output_image", "o.png"], ["--content=c.png", "--output=o.png"]),
    (["-pooling", "avg", "-optimizer", "adam", "-seed", "7"],
     ["--pooling=avg", "--optimizer=adam", "--seed=7"]),
    # Two dashes on a name tf-nst has too: tf-nst's own flag, untouched.
    (["--init=random.png", "--learning_rate=0.5", "--image_size", "64"],
     ["--init=random.png", "--learning_rate=0.5", "--image_size", "64"]),
    (["--content=c.png", "--", "-content_image", "x"],
     ["--content=c.png", "--", "-content_image", "x"]),
])
def test_aliases_translate_values_as_neural_style_means_them(args, expected):
    translation = translate(["p", *args])
    assert translation.argv == ["p", *expected] and translation.environ == {}


def test_a_learning_rate_in_0_255_units_is_divided_by_255_and_said():
    argv, notes, _ = translate(["p", "-learning_rate", "25.5"])
    assert argv == ["p", "--learning_rate=0.1"]
    assert len(notes) == 1 and "divided by 255" in notes[0] and "--learning_rate=0.1" in notes[0]


def test_weights_in_neural_style_form_get_one_note():
    argv, notes, _ = translate(["p", "-content_weight", "5", "-style_weight", "100"])
    assert argv == ["p", "--content_weight=5", "--style_weight=100"]
    assert notes == [aliases.WEIGHTS_NOTE]
    assert translate(["p", "--content_weight=5", "--style_weight=100"]).notes == []


def test_kernel_choices_are_ignored_with_one_note():
    argv, notes, environ = translate(["p", "-cudnn_autotune", "-backend", "cudnn", "--num_steps=3"])
    assert argv == ["p", "--num_steps=3"] and notes == [aliases.KERNELS_NOTE] and environ == {}


@pytest.mark.parametrize("value, visible", [("-1", "-1"), ("c", "-1"), ("1", "1"), ("0,1", "0,1")])
def test_gpu_picks_the_visible_devices(value, visible):
    assert translate(["p", "-gpu", value]) == (["p"], [], {"CUDA_VISIBLE_DEVICES": visible})


def test_a_negative_seed_draws_one_and_says_which():
    argv, notes, _ = translate(["p", "-seed", "-1"])
    drawn = argv[1].removeprefix("--seed=")
    assert drawn.isdigit() and len(notes) == 1 and f"--seed={drawn}" in notes[0]


@pytest.mark.parametrize("args, message", [
    (["-original_colors", "2"], "-original_colors 2: must be 0 or 1"),
    (["-gpu", "x"], "-gpu x: must be -1 or c"),
    (["-learning_rate", "fast"], "-learning_rate fast: not a number"),
    (["-seed", "x"], "-seed x: not a number"),
    (["-content_image"], "-content_image needs a value"),
])
def test_bad_alias_values_are_errors(args, message):
    with pytest.raises(AliasError, match=message):
        translate(["p", *args])


def test_every_alias_sets_a_hyper_parameter_or_a_run_flag():
    run_flags = {"content", "style", "output", "print_every", "save_every"}
    names = {f.name for f in fields()} | run_flags
    assert {a.flag for a in aliases.ALIASES.values() if a.flag} <= names


# --- help and suggestions (tf_nst.usage), without TensorFlow --------------------------------------
def test_closest_needs_to_be_close():
    names = ["style", "style_weight", "content", "tile_size", "num_steps", "content_mask"]
    assert usage.closest("stlye", names) == "style"
    assert usage.closest("style_wieght", names) == "style_weight"
    assert usage.closest("num_step", names) == "num_steps"
    assert usage.closest("zebra", names) is None


def test_first_sentence_stops_outside_parentheses():
    assert usage.first_sentence("Every N steps (0 = never). More.") == "Every N steps (0 = never)."
    assert usage.first_sentence("Masks (Gatys et al. 2017). Any") == "Masks (Gatys et al. 2017)."
    assert usage.first_sentence("Longest side; resized to it") == "Longest side"


def test_short_help_is_one_line_per_flag_with_its_default():
    values = flags.FlagValues()
    flags.DEFINE_integer("size", 512, "Longest side. Long text " + "x" * 200, flag_values=values)
    flags.DEFINE_list("layers", ["a", "b"], "Layers.", flag_values=values)
    flags.DEFINE_boolean("fast", False, "Go fast.", flag_values=values)
    flags.DEFINE_string("path", None, "A path.", flag_values=values)
    text = usage.short_help("usage: prog", {"one": ["size", "layers"], "two": ["fast", "path"]},
                            values, "the end", width=80)
    lines = text.splitlines()
    assert lines[0] == "usage: prog" and lines[1] == "one:" and lines[4] == "two:"
    assert lines[2].split() == ["--size=512", "Longest", "side."]
    assert lines[3].startswith("  --layers=a,b ") and lines[5].startswith("  --fast=false ")
    assert lines[6].split() == ["--path", "A", "path."] and lines[-1] == "the end"
    assert all(len(line) <= 80 for line in lines)


KEY_FLAGS = ("import sys; from absl import flags; import tf_nst.{0} as m; "
             "print(' '.join(f.name for f in flags.FLAGS.get_key_flags_for_module(m)))")


@pytest.mark.parametrize("module, args, names", [
    ("cli", ["--help"], ["content", "style", "output=out.png", "image_size=512",
                         "style_weight=20", "preset", "num_steps=500", "original_colors=false"]),
    ("cli", ["-h"], ["content", "style", "output=out.png"]),
    ("export_cli", ["--help"], ["format=saved_model", "export_dir", "output", "image_size=512"]),
    ("export_cli", ["-h"], ["format=saved_model", "preset"]),
])
def test_help_lists_the_commands_own_flags_by_group_in_under_100_lines(module, args, names):
    result = command(f"tf_nst.{module}", *args)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert 20 < len(lines) < 100
    for name in names:
        assert any(line.startswith(f"  --{name} ") for line in lines), name
    for group in ("images:", "loss:", "optimization:", "run:" if module == "cli" else "export:"):
        assert group in lines
    own = subprocess.run([sys.executable, "-c", KEY_FLAGS.format(module)], capture_output=True,
                         text=True, cwd=ROOT, timeout=60).stdout.split()
    assert len(own) > 5
    shown = {line.split()[0][2:].split("=")[0] for line in lines if line.startswith("  --")}
    assert shown == set(own) | {f.name for f in fields()}  # every flag of the command, no absl's


def test_help_names_neural_styles_flags():
    text = command("tf_nst", "--help").stdout
    for name in aliases.ALIASES:
        assert f"-{name}" in text


def test_helpfull_keeps_every_flag_absls_too():
    result = command("tf_nst", "--helpfull")
    assert result.returncode == 0 and len(result.stdout.splitlines()) > 150
    assert "--verbosity" in result.stdout and "--[no]original_colors" in result.stdout


@pytest.mark.parametrize("args, line", [
    (["--stlye=x"], "tf-nst: error: unknown flag --stlye; did you mean --style? "
                    "(--help lists the flags)"),
    (["--content_imag=x"], "tf-nst: error: unknown flag --content_imag; did you mean "
                           "-content_image? (--help lists the flags)"),
    (["-num_iteration", "3"], "tf-nst: error: unknown flag --num_iteration; did you mean "
                              "-num_iterations? (--help lists the flags)"),
    (["--zebra=1"], "tf-nst: error: unknown flag --zebra (--help lists the flags)"),
    (["-original_colors", "yes"], "tf-nst: error: -original_colors yes: must be 0 or 1"),
])
def test_a_mistyped_flag_is_one_line_with_the_closest_before_tensorflow(args, line):
    result = probe(*args)
    assert result.stdout == "2 False None\n" and result.stderr == line + "\n"


def test_export_suggests_its_own_flags():
    result = probe("--formt=tflite", module="export_cli")
    assert result.stdout == "2 False None\n"
    assert result.stderr == ("tf-nst-export: error: unknown flag --formt; did you mean --format? "
                             "(--help lists the flags)\n")


def test_neural_style_notes_and_gpu_come_before_tensorflow():
    # No style image: the command stops at its first check, after the flags were read.
    result = probe("-content_image", "c.png", "-learning_rate", "10", "-content_weight", "5",
                   "-style_weight", "100", "-backend", "cudnn", "-cudnn_autotune", "-gpu", "c")
    assert result.stdout == "2 False -1\n"
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "tf-nst: note: -learning_rate 10 is in neural-style's 0-255 pixel units: divided by 255 "
        "for tf-nst's pixels in [0, 1] (--learning_rate=0.0392157)",
        f"tf-nst: note: {aliases.WEIGHTS_NOTE}", f"tf-nst: note: {aliases.KERNELS_NOTE}"]
    assert lines[3].startswith("tf-nst: error: --content and --style are required")
    assert len(lines) == 4


# --- an --output directory made when missing (tf_nst.command) ----------------------------------
def test_output_directory_is_made_and_removed_again(tmp_path):
    made = make_output_directory(f"{tmp_path}/a/b/")
    assert made == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert (tmp_path / "a" / "b").is_dir()
    assert make_output_directory(f"{tmp_path}/a/b/") == []  # exists
    assert make_output_directory(f"{tmp_path}/out.png") == []  # a file name, not a directory
    remove_directories(made)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        make_output_directory(f"{tmp_path}/file/")


def write_images(folder, *names, side=32):
    for seed, name in enumerate(names):
        pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)


def test_neural_style_command_line_writes_the_output(tmp_path, vgg_weights):
    # 32 px on each side: conv5_1 needs 16 (4 poolings), 32 is the size neural-style users try.
    write_images(tmp_path, "C.png", "S.png")
    paths = {"C": tmp_path / "C.png", "S": tmp_path / "S.png", "O": tmp_path / "O.png"}
    result = tf_nst(*[str(paths.get(arg, arg)) for arg in ACCEPTANCE])
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "O.png").size == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C.png", "O.png", "S.png"]  # -save_iter 0
    assert "step 2: " in result.stderr  # -print_iter 1


def test_several_images_into_a_missing_directory(tmp_path, vgg_weights):
    # 16 px: the smallest square conv5_1 takes.
    write_images(tmp_path, "a.png", "b.png", "style.png", side=16)
    result = tf_nst(f"--content={tmp_path}/[ab].png", f"--style={tmp_path}/style.png",
                    f"--output={tmp_path}/new/dir/", "--image_size=16", "--num_steps=1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["a.png", "b.png"]
    # A run refused by its checks leaves no directory behind.
    result = tf_nst(f"--content={tmp_path}/[ab].png", f"--style={tmp_path}/none.png",
                    f"--output={tmp_path}/other/", "--image_size=16", "--num_steps=1")
    assert result.returncode == 1 and "none.png" in result.stderr
    assert not (tmp_path / "other").exists()
