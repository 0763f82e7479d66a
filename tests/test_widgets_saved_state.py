"""A notebook run in a real kernel and saved with widget state holds no API secret and no token.

nbclient records every widget model the kernel sends (as a front end would) into the notebook's widget-state
metadata; the file is then searched for the secret, a pasted token and anything token-shaped. The browser test
checks the same on a notebook saved by JupyterLab itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lk_notebook.config import Credentials

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_saved_widget_state_has_no_secret_and_no_token(
    credentials: Credentials, room_name: str, tmp_path: Path
) -> None:
    token = credentials.token(room_name, "pasted")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import asyncio, os\n"
            "from lk_notebook.widgets import show, RoomPanel\n"
            f"dash = show({room_name!r}, identity='saver', url=os.environ['LIVEKIT_URL'],\n"
            "            api_key=os.environ['LIVEKIT_API_KEY'], api_secret=os.environ['LIVEKIT_API_SECRET'])\n"
            "dash"
        ),
        nbformat.v4.new_code_cell(
            "for _ in range(200):\n"
            "    if dash.session is not None and dash.table is not None:\n"
            "        break\n"
            "    await asyncio.sleep(0.1)\n"
            "await asyncio.sleep(1.0)  # a few renders\n"
            "print(dash.session.status.value)"
        ),
        nbformat.v4.new_code_cell(
            # What the browser sends when a token is pasted into the masked field.
            "panel = RoomPanel(room='other', identity='x')\n"
            f"panel.token._on_front_end(panel.token, {{'t': 'secret', 'v': {token!r}}}, [])\n"
            "print(panel.token, repr(panel.token.filled))\n"
            "panel"
        ),
        nbformat.v4.new_code_cell("await dash.session.leave()\ndash.close()"),
    ]
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=dict(os.environ))
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    text = path.read_text()

    assert "application/vnd.jupyter.widget-state+json" in text, "no widget state was saved: the test proves nothing"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) > 20  # the dashboard's models
    assert "connected" in nb.cells[1].outputs[0]["text"]
    assert "True" in nb.cells[2].outputs[0]["text"]  # the kernel did get the token
    # The token appears in the notebook's own source (the test typed it there); search everything else.
    for cell in nb.cells:
        cell.source = ""
    nbformat.write(nb, path)
    text = path.read_text()
    assert credentials.api_secret not in text
    assert token not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.", text), "something token-shaped was saved"
