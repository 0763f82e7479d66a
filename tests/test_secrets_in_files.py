"""No API secret and no JWT in any file the toolkit writes.

Everything is written under one scratch directory, then every file there is read as bytes and searched:
- a LocalServer's log (with joins, a refused token, a given token, server API calls) and lk_notebook's and the
  SDK's Python log records at DEBUG, written by a FileHandler as a user might configure one;
- a LocalCluster's logs (two livekit-server nodes and Redis, whose password is the cluster's secret);
- the lab's exports from `lk-notebook bench --json --csv --plot` (rows, plots);
- a notebook executed in a real kernel with the Dashboard, a token pasted into the join form and widget state
  stored, saved as a user's save would.
The needles: every API secret in play, every token minted here, and anything JWT-shaped (`eyJ...`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import lk_notebook as lk
from lk_notebook.config import Credentials

pytestmark = [pytest.mark.server, pytest.mark.slow]

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
ROOT = Path(__file__).resolve().parent.parent

NOTEBOOK = [
    """
import os
import lk_notebook as lk
from lk_notebook.widgets import Dashboard, RoomPanel

session = await lk.join(os.environ["LK_TEST_ROOM"], identity="saved-user", attributes={"k": "v"})
dash = Dashboard(session)
dash
""",
    """
panel = RoomPanel(room=os.environ["LK_TEST_ROOM"], identity="pasted")
panel.token.value = os.environ["LK_PASTED_TOKEN"]   # what pasting into the masked field does
panel
""",
    """
await session.leave()
""",
]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _leaks(folder: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}: secret/token #{i}" for i, n in enumerate(needles) if n in data]
        found += [f"{path.relative_to(folder)}: JWT-shaped {m.group()[:12]!r}…" for m in JWT.finditer(data)]
    return found


async def test_no_secret_or_token_in_any_file_written(tmp_path: Path, room_name: str, credentials: Credentials) -> None:
    needles = [credentials.api_secret.encode()]
    handler = logging.FileHandler(tmp_path / "python-debug.log")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    written: list[str] = []
    try:
        # A server of its own, its log in the scratch folder; joins that succeed, are refused, use a given token.
        with lk.LocalServer(log_dir=tmp_path / "server") as server:
            needles.append(server.api_secret.encode())
            creds = {"url": server.url, "api_key": server.api_key, "api_secret": server.api_secret}
            a = await lk.join(room_name, identity="a", attributes={"x": "1"}, **creds)
            token = Credentials(server.url, server.api_key, server.api_secret, "test").token(room_name, "b")
            needles.append(token.encode())
            b = await lk.join(room_name, identity="b", token=token, url=server.url)
            await b.publish("hi", topic="t")
            await a.admin.update_room_metadata(room_name, '{"m": 1}')
            wrong = Credentials(server.url, server.api_key, "w" * 40, "test").token(room_name, "c")
            needles.append(wrong.encode())
            with pytest.raises(lk.AuthenticationError):
                await lk.join(room_name, identity="c", token=wrong, url=server.url)
            await a.leave()
            await b.leave()
            written.append("server log")

        # A local cluster: two nodes and Redis (whose password is the cluster's secret).
        with lk.LocalCluster(2, log_dir=tmp_path / "cluster") as cluster:
            needles.append(cluster.api_secret.encode())
            c = await lk.join(room_name, identity="c", url=cluster.url, api_key=cluster.api_key,
                              api_secret=cluster.api_secret)  # fmt: skip
            await c.leave()
            written.append("cluster logs")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()

    # The lab's exports, from the CLI a user would run (against the test server: LIVEKIT_* are set).
    out = tmp_path / "lab"
    bench = [sys.executable, "-m", "lk_notebook.cli", "bench", "--modes", "lossy", "--sizes", "200", "--rate", "200"]
    bench += ["--duration", "0.5", "--quiet", "--json", str(out / "rows.json"), "--csv", str(out / "rows.csv")]
    bench += ["--plot", str(out / "loss.png")]
    done = await asyncio.to_thread(subprocess.run, bench, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "rows.json").stat().st_size > 0 and (out / "loss.png").stat().st_size > 0
    assert credentials.api_secret not in done.stdout + done.stderr

    # A notebook with the Dashboard and a pasted token, executed in a real kernel and saved with widget state.
    pasted = credentials.token(room_name, "pasted")
    needles.append(pasted.encode())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip()) for c in NOTEBOOK])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved_env = {k: os.environ.get(k) for k in ("LK_TEST_ROOM", "LK_PASTED_TOKEN")}
    os.environ.update(LK_TEST_ROOM=room_name, LK_PASTED_TOKEN=pasted)
    try:
        # ~8 s measured for three cells (kernel start included); x7 for a loaded 2-core machine.
        client = NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=True)
        await client.async_execute()
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, tmp_path / "saved.ipynb")
    saved = (tmp_path / "saved.ipynb").read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved  # the state was stored, and is searched below
    assert "saved-user" in saved  # the outputs are there (a fallback text names the session)

    files = _files(tmp_path)
    assert any(f.startswith("server/") and f.endswith(".log") for f in files), files
    assert sum(f.startswith("cluster/") for f in files) >= 3, files  # two nodes and Redis
    assert (tmp_path / "python-debug.log").stat().st_size > 0
    leaks = _leaks(tmp_path, needles)
    assert not leaks, f"secrets or tokens in files the toolkit wrote: {leaks}"
    print(f"searched {len(files)} files for {len(needles)} secrets/tokens and JWTs: {written}")
