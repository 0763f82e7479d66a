"""A local stand-in for LiveKit's GitHub release: `vX.Y.Z/<archive>` and `vX.Y.Z/<checksums>` over HTTP.

Made from the go-installed binary the test run already uses, so the archive install path (and Binder's
postBuild) is exercised for real without the internet.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

from lk_notebook import install


def make_release(root: Path, binary: Path) -> Path:
    """Lay out `root/vX.Y.Z/` like the official release (archive with LICENSE, README and the binary; a checksums
    file listing another asset too). Returns that folder."""
    folder = root / f"v{install.SERVER_VERSION}"
    folder.mkdir(parents=True)
    archive_name, sums_name = install.release_asset_names()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, data in (("LICENSE", b"Apache-2.0\n"), ("README.md", b"livekit\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(binary, arcname="livekit-server")
    (folder / archive_name).write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    other = f"livekit_{install.SERVER_VERSION}_other.tar.gz"
    (folder / sums_name).write_text(f"{'0' * 64}  {other}\n{digest}  {archive_name}\n")
    return folder


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on loopback; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
