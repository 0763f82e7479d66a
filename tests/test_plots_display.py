"""A lab plot returned at the end of a cell shows as a picture in a fresh kernel (not "<Figure size ...>"), and a
figure format the learner chose is kept. Real kernels (nbclient), no LiveKit: the plots draw given rows."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

PLOT = """
import pandas as pd
from lk_notebook.lab.plots import loss_vs_size
frame = pd.DataFrame({"mode": ["lossy", "lossy"], "size": [200, 1200], "rate": [50.0, 50.0], "loss_rate": [0.0, 0.1],
                      "impairment": ["none", "none"], "loss_setting": [0.0, 0.0], "legs": [2, 2]})
loss_vs_size(frame)
"""


def _outputs(*sources: str) -> list[list[str]]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, "\n".join(errors[0].traceback)
    return [[mime for o in cell.outputs for mime in o.get("data", {})] for cell in nb.cells]


def test_a_returned_lab_plot_is_drawn_in_a_fresh_kernel() -> None:
    (mimes,) = _outputs(PLOT)
    assert "image/png" in mimes, mimes


def test_a_format_the_learner_chose_is_kept() -> None:
    _, mimes = _outputs("%config InlineBackend.figure_formats = ['svg']\n%matplotlib inline", PLOT)
    assert "image/svg+xml" in mimes and "image/png" not in mimes, mimes
