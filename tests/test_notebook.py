"""notebooks/colab.ipynb runs from top to bottom (tiny sizes), so it cannot rot."""

import os

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT


def test_colab_notebook_executes(monkeypatch, vgg_weights):
    # The kernel inherits this environment: tiny sizes, and this checkout's tf_nst importable,
    # so the notebook's pip-install cell does nothing.
    monkeypatch.setenv("TF_NST_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    notebook = nbformat.read(ROOT / "notebooks" / "colab.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # The images are shown inline as PNGs: the batch and both looks of the API demo.
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "".join(o.get("text", "") for o in outputs)
    assert "strategy: default" in text and "images 2/2" in text and str(ROOT) in text
