"""`lk-notebook site`: the tutorials as a website, executed, with their outputs and plots (Sphinx + MyST-NB).

    lk-notebook site [--out DIR] [--executed DIR]        (or: python -m lk_notebook.site ...)

From a checkout (the sources are site/ and notebooks/): every notebooks/*.ipynb is executed in a fresh kernel
against a local livekit-server started here (or LIVEKIT_URL's, as `lk-notebook lab` does), or taken already executed
from `--executed DIR` (the test suite saves its runs in artifacts/executed/), staged with site/ into a scratch
source folder (the notebooks stay where they are), and built to DIR (default build/site/; open DIR/index.html).
Sphinx runs with -W: a warning fails the build. Then every local link and anchor of the HTML is checked, and the
HTML must load nothing from the internet (no CDN: the site works offline, as the build does).

Needs the `docs` extra: pip install -e '.[docs]'.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import LkNotebookError

__all__ = [
    "CHECKOUT",
    "SiteError",
    "build_site",
    "check_links",
    "execute_notebooks",
    "external_resources",
    "main",
    "tutorials",
]

CHECKOUT = Path(__file__).resolve().parent.parent
"""The checkout this package runs from: site/ and notebooks/ are found here."""
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks
Progress = Callable[[str], None]


class SiteError(LkNotebookError):
    """The site cannot be built: no sources, a notebook failed, Sphinx warned, or a link is broken."""


def _say(message: str) -> None:
    print(f"lk-notebook site: {message}", file=sys.stderr, flush=True)


def tutorials(notebooks: Path) -> list[Path]:
    """The notebooks of the site: the lessons (01-12) and the lab appendix (A*), sorted by name."""
    return sorted(notebooks.glob("*.ipynb"))


# -- executing ------------------------------------------------------------------------------------------------------
def execute_notebooks(
    paths: Iterable[Path], out: Path, *, timeout: float = 600.0, progress: Progress = _say
) -> list[Path]:
    """Run each notebook top to bottom in a fresh kernel (working directory: its folder) and save it, outputs
    included, under `out`. A local livekit-server serves them unless LIVEKIT_URL is set. SiteError when a
    notebook fails or its outputs hold a token or the server's secret."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from .server import LocalServer

    env = dict(os.environ)
    server: LocalServer | None = None
    if not env.get("LIVEKIT_URL"):
        server = LocalServer(progress=progress).start()
        env.update(server.env())
    secret = env.get("LIVEKIT_API_SECRET", "")
    out.mkdir(parents=True, exist_ok=True)
    done = []
    try:
        for path in paths:
            progress(f"executing {path.name}")
            nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
            client = NotebookClient(
                nb,
                kernel_name="python3",
                timeout=math.ceil(timeout),
                resources={"metadata": {"path": str(path.parent)}},
            )
            try:
                asyncio.run(client.async_execute(env=env))
            except CellExecutionError as exc:
                raise SiteError(f"{path.name} failed:\n{_ANSI.sub('', str(exc))}") from None
            text = nbformat.writes(nb)  # type: ignore[no-untyped-call]
            if _JWT.search(text) or (secret and secret in text):
                raise SiteError(f"{path.name}: its outputs hold a token or the API secret; not written")
            (out / path.name).write_text(text, encoding="utf-8")
            done.append(out / path.name)
    finally:
        if server is not None:
            server.stop()
    return done


# -- building -------------------------------------------------------------------------------------------------------
def _stage(site: Path, notebooks: list[Path], executed: Path | None, src: Path, progress: Progress) -> None:
    shutil.copytree(site, src, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    (src / "notebooks").mkdir()
    unexecuted = []
    for nb in notebooks:
        ran = executed / nb.name if executed is not None else None
        if ran is None or not ran.is_file():
            unexecuted.append(nb.name)
            ran = nb
        shutil.copyfile(ran, src / "notebooks" / nb.name)
    if unexecuted:
        progress(f"not executed (pages without outputs): {', '.join(unexecuted)}")


def build_site(
    out: Path,
    *,
    executed: Path | None = None,
    site: Path = CHECKOUT / "site",
    notebooks: Path = CHECKOUT / "notebooks",
    progress: Progress = _say,
) -> Path:
    """Build the site into `out` from `site`'s sources and the notebooks (executed ones from `executed`, else
    executed here). Returns `out / "index.html"`. SiteError on a Sphinx warning or a broken local link."""
    if not (site / "conf.py").is_file():
        raise SiteError(f"no site sources at {site} (conf.py): build from a checkout of lk_notebook")
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").is_file():
        # Replaced on every build, so it must be an earlier build (Sphinx writes .buildinfo), never a user's folder.
        raise SiteError(f"{out} exists and is not a site built before (no .buildinfo): pass an empty or new --out")
    paths = tutorials(notebooks)
    if not paths:
        raise SiteError(f"no notebooks in {notebooks}")
    with tempfile.TemporaryDirectory(prefix="lk-notebook-site-") as scratch:
        if executed is None:
            executed = Path(scratch) / "executed"
            execute_notebooks(paths, executed, progress=progress)
        src = Path(scratch) / "src"
        _stage(site, paths, executed, src, progress)
        if out.exists():
            shutil.rmtree(out)
        progress(f"building {out}")
        cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", f"{scratch}/doctrees"]
        proc = subprocess.run([*cmd, str(src), str(out)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            why = (proc.stderr or proc.stdout).strip()
            if "No module named sphinx" in why:
                why = "Sphinx is not installed: pip install -e '.[docs]'"
            raise SiteError(f"the site build failed (Sphinx -W):\n{why[-4000:]}")
    missing = [p.name for p in paths if not (out / "notebooks" / f"{p.stem}.html").is_file()]
    if missing:
        raise SiteError(f"no page for {', '.join(missing)}")
    broken = check_links(out)
    if broken:
        raise SiteError(f"{len(broken)} broken local link(s) in {out}:\n" + "\n".join(broken[:20]))
    remote = external_resources(out)
    if remote:
        raise SiteError("the site loads from the internet (it must work offline):\n" + "\n".join(remote[:20]))
    return out / "index.html"


# -- checking the HTML ----------------------------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((tag, name, value))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _pages(root: Path) -> list[Path]:
    # _static/ holds theme templates (Jinja in .html files), not pages.
    return [p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts]


def check_links(root: Path) -> list[str]:
    """Every local href/src of every HTML page under `root` that resolves to no file, or to no anchor."""
    pages = {p.resolve(): _parse(p) for p in _pages(root)}
    broken = []
    for path, page in pages.items():
        for _tag, _attr, value in page.links:
            parts = urlsplit(value)
            if parts.scheme or parts.netloc or value.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(root.resolve())}: {value}"
            if not target.is_file():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no such anchor)")
    return broken


def external_resources(root: Path) -> list[str]:
    """Scripts, stylesheets, images and frames that the HTML under `root` loads from another host."""
    found = []
    for path in _pages(root):
        for tag, attr, value in _parse(path).links:
            loads = attr == "src" or (tag == "link" and attr == "href")
            if loads and (urlsplit(value).scheme in ("http", "https") or value.startswith("//")):
                found.append(f"{path.relative_to(root)}: <{tag} {attr}={value}>")
    return found


# -- command line ---------------------------------------------------------------------------------------------------
def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=CHECKOUT / "build" / "site", help="where the HTML goes")
    parser.add_argument(
        "--executed", type=Path, default=None, help="notebooks already executed (e.g. artifacts/executed)"
    )


def run_site(args: argparse.Namespace) -> int:
    index = build_site(args.out.resolve(), executed=args.executed)
    print(index)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lk_notebook.site", description=__doc__)
    add_site_arguments(parser)
    try:
        return run_site(parser.parse_args(argv))
    except LkNotebookError as exc:
        _say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
