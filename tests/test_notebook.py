"""notebooks/colab.ipynb runs from top to bottom outside Colab (tiny sizes, the bundled examples),
so it cannot rot; an empty REPO_URL stops it with one clear message."""

import os
import re

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from PIL import Image

from tests.conftest import EXAMPLES, ROOT
from tf_nst.config import Config


def execute(notebook, cwd, monkeypatch):
    """Run ``notebook`` in a fresh kernel with this checkout's tf_nst importable, in ``cwd``."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()


def outputs(notebook):
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_colab_notebook_runs_and_writes_the_stylised_picture(tmp_path, monkeypatch, vgg_weights):
    monkeypatch.setenv("TF_NST_NOTEBOOK_SIZE", "32")
    monkeypatch.setenv("TF_NST_NOTEBOOK_STEPS", "3")
    notebook = nbformat.read(ROOT / "notebooks" / "colab.ipynb", as_version=4)
    execute(notebook, tmp_path, monkeypatch)
    shown = outputs(notebook)
    assert not [o for o in shown if o.output_type == "error"]
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in shown)
    # precision="auto": what this machine computes fastest, as the library resolves it.
    assert re.search(rf"(CPU|GPU), {Config().compute_precision}: 32 px, 3 steps", text), text
    assert "step 3/3: loss " in text
    assert any("image/png" in o.get("data", {}) for o in shown)  # the live preview
    # The bundled examples were used: the cat (451 x 300) at 32 px on its longest side.
    result = np.asarray(Image.open(tmp_path / "stylised.png").convert("RGB"), np.float32) / 255
    assert result.shape == (21, 32, 3)
    cat = Image.open(EXAMPLES / "content.png").convert("RGB").resize((32, 21), Image.LANCZOS)
    assert 0.005 < np.abs(result - np.asarray(cat, np.float32) / 255).mean() < 0.3  # stylised


def test_an_empty_repo_url_stops_the_notebook_with_one_clear_line(tmp_path, monkeypatch):
    notebook = nbformat.read(ROOT / "notebooks" / "colab.ipynb", as_version=4)
    assert 'REPO_URL = ""  #@param {type:"string"}' in notebook.cells[1].source
    # As on a fresh Colab runtime: tf_nst is not installed (find_spec answers None for it).
    notebook.cells.insert(1, nbformat.v4.new_code_cell('import sys\nsys.modules["tf_nst"] = None'))
    with pytest.raises(CellExecutionError):
        execute(notebook, tmp_path, monkeypatch)
    install = notebook.cells[2]
    (error,) = [o for o in install.outputs if o.output_type == "error"]
    assert error.ename == "SystemExit"
    assert error.evalue.startswith("REPO_URL is empty: type the URL of your tf-nst repository")
    assert not any("Traceback" in line or "File " in line for line in error.traceback)
    assert not [cell for cell in notebook.cells[3:] if cell.get("outputs")]  # it stopped there
