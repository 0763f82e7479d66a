"""Find or install the pinned livekit-server binary.

Example::

    path = find_server() or install_server(progress=print)   # go install where Go exists, else the release archive

Order of search: $LIVEKIT_SERVER_BIN, `livekit-server` on PATH, the project cache (see `cache_dir`). The archive
install checks the release's SHA-256 before anything lands in the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import ServerInstallError

__all__ = [
    "GO_MODULE",
    "SERVER_VERSION",
    "Progress",
    "cache_dir",
    "find_server",
    "install_server",
    "release_asset_names",
    "server_version",
]

SERVER_VERSION = "1.13.5"
"""The pinned livekit-server release (livekit-facts.md: the last `go install`-able one with our Go)."""
GO_MODULE = "github.com/livekit/livekit-server/cmd/server"
DEFAULT_RELEASE_BASE = "https://github.com/livekit/livekit/releases/download"
BINARY_NAME = "livekit-server"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def cache_dir() -> Path:
    """Where lk_notebook keeps the installed server: $LK_NOTEBOOK_CACHE, else $XDG_CACHE_HOME/lk_notebook,
    else ~/.cache/lk_notebook."""
    if env := os.environ.get("LK_NOTEBOOK_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lk_notebook"


def _cached_binary() -> Path:
    return cache_dir() / f"livekit-server-{SERVER_VERSION}" / BINARY_NAME


def find_server() -> Path | None:
    """The livekit-server to use: $LIVEKIT_SERVER_BIN, else `livekit-server` on PATH, else the project cache."""
    if env := os.environ.get("LIVEKIT_SERVER_BIN"):
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerInstallError(
                f"LIVEKIT_SERVER_BIN={env} is not an executable file. Fix the path or unset the variable."
            )
        return path
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return Path(on_path)
    cached = _cached_binary()
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return None


def server_version(binary: Path) -> str:
    """The version a livekit-server binary reports (e.g. "1.13.5")."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip().rsplit(" ", 1)[-1]


def install_server(
    *,
    method: str = "auto",
    release_base_url: str | None = None,
    progress: Progress = _quiet,
) -> Path:
    """Install the pinned livekit-server into the cache and return its path (a no-op when already cached).

    `method` is "go" (`go install`, needs Go >= 1.26), "archive" (the official release archive, SHA-256
    checked against the release's checksums file) or "auto" (go where Go exists, else the archive).
    `release_base_url` (or $LK_NOTEBOOK_RELEASE_URL) replaces the GitHub releases address, e.g. with a mirror.
    """
    target = _cached_binary()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    if method not in ("auto", "go", "archive"):
        raise ServerInstallError(f"unknown install method {method!r}: use 'auto', 'go' or 'archive'")
    go = shutil.which("go")
    if method == "go" or (method == "auto" and go):
        if not go:
            raise ServerInstallError("method='go' needs the Go toolchain (>= 1.26) on PATH.")
        return _install_with_go(go, target, progress)
    base = release_base_url or os.environ.get("LK_NOTEBOOK_RELEASE_URL") or DEFAULT_RELEASE_BASE
    return _install_from_archive(base.rstrip("/"), target, progress)


def _install_with_go(go: str, target: Path, progress: Progress) -> Path:
    progress(f"building livekit-server v{SERVER_VERSION} with `go install` (a few minutes the first time)…")
    with tempfile.TemporaryDirectory(prefix="lk_notebook-go-") as gobin:
        env = dict(os.environ, GOBIN=gobin)
        proc = subprocess.run(
            [go, "install", f"{GO_MODULE}@v{SERVER_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        built = Path(gobin) / "server"
        if proc.returncode != 0 or not built.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise ServerInstallError(
                f"`go install {GO_MODULE}@v{SERVER_VERSION}` failed (exit {proc.returncode}). It needs Go >= 1.26 "
                f"and access to the Go module proxy. Alternatives: install_server(method='archive'), or put a "
                f"livekit-server on PATH / in LIVEKIT_SERVER_BIN.\n{tail}"
            )
        _place(built, target)
    progress(f"installed {target}")
    return target


def release_asset_names(version: str = SERVER_VERSION) -> tuple[str, str]:
    """(archive name, checksums file name) of the official release for this platform."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise ServerInstallError(
            f"no official livekit-server release for {system}/{machine}; install Go >= 1.26 and use method='go'."
        )
    return f"livekit_{version}_{system}_{arch}.tar.gz", f"livekit_{version}_checksums.txt"


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            data: bytes = resp.read()
            return data
    except (urllib.error.URLError, OSError) as exc:
        raise ServerInstallError(
            f"could not download {url}: {exc}. Without network, install Go >= 1.26 (method='go') or set "
            f"LIVEKIT_SERVER_BIN to an existing livekit-server."
        ) from exc


def _install_from_archive(base: str, target: Path, progress: Progress) -> Path:
    archive_name, sums_name = release_asset_names()
    folder = f"{base}/v{SERVER_VERSION}"
    progress(f"downloading {folder}/{archive_name}…")
    sums = _download(f"{folder}/{sums_name}").decode("utf-8", "replace")
    expected = None
    for line in sums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == archive_name:
            expected = parts[0].lower()
    if expected is None:
        raise ServerInstallError(f"{sums_name} at {folder} has no line for {archive_name}; refusing to install.")
    data = _download(f"{folder}/{archive_name}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ServerInstallError(
            f"checksum mismatch for {archive_name}: expected sha256 {expected}, got {actual}. The download is "
            f"corrupt or was tampered with; nothing was installed."
        )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = next((m for m in tar.getmembers() if Path(m.name).name == BINARY_NAME and m.isfile()), None)
        if member is None:
            raise ServerInstallError(f"{archive_name} has no {BINARY_NAME} inside; nothing was installed.")
        extracted = tar.extractfile(member)
        assert extracted is not None
        with tempfile.TemporaryDirectory(prefix="lk_notebook-archive-") as tmp:
            path = Path(tmp) / BINARY_NAME
            path.write_bytes(extracted.read())
            _place(path, target)
    progress(f"installed {target} (sha256 {actual[:12]}… verified)")
    return target


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o755)
    tmp.replace(target)  # atomic: a concurrent finder never sees half a binary
