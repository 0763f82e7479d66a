"""The rendered site (`lk-notebook site`) builds from the suite's executed notebooks, without a Sphinx warning, a
broken local link or anything loaded from the internet, and its pages show the notebooks' plots in Chromium.

tests/test_notebooks.py (which sorts before this file) saves every executed notebook in artifacts/executed/; run
alone, this test executes the two notebooks it opens itself. The site goes to artifacts/site/, screenshots of the two
pages to artifacts/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lk_notebook.site import SiteError, build_site, check_links, execute_notebooks, external_resources, tutorials
from tests.browser._jupyter import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
EXECUTED = REPO / "artifacts" / "executed"
SITE = REPO / "artifacts" / "site"
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PLOT_PAGES = ("06-lossy-vs-reliable", "A1-delivery-lab")
"""The delivery lesson (loss vs size, reliable latency) and the lab appendix (theory vs measurement, the sweep): both
show matplotlib figures, so the browser must find plots on both."""


def _plots(executed: Path) -> int:
    """Image outputs of an executed notebook that the site shows (not in a cell tagged to remove its output)."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    count = 0
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & {"remove-cell", "remove-output"}:
            continue
        count += sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    return count


@pytest.fixture(scope="module")
def site() -> Path:
    needed = [NOTEBOOKS / f"{name}.ipynb" for name in PLOT_PAGES]
    missing = [p for p in needed if not (EXECUTED / p.name).is_file()]
    if missing:  # run alone: execute what this test opens (with the suite's server if conftest started one)
        execute_notebooks(missing, EXECUTED, progress=print)
    build_site(SITE, executed=EXECUTED, progress=print)
    return SITE


@pytest.mark.slow
def test_the_site_has_every_notebook_in_the_learners_order(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    lessons = [p.stem for p in tutorials(NOTEBOOKS) if p.stem[0].isdigit()]
    appendix = [p.stem for p in tutorials(NOTEBOOKS) if p.stem.startswith("A")]
    positions = {stem: index.find(f'href="notebooks/{stem}.html"') for stem in lessons + appendix}
    assert -1 not in positions.values(), f"not linked from the index: {[s for s, i in positions.items() if i < 0]}"
    order = list(positions.values())
    assert order == sorted(order), "the index lists the lessons, then the lab appendix, each in name order"
    assert "Appendix: lab notebooks" in index
    assert not check_links(site) and not external_resources(site)  # build_site checked them; the checkers run here


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium package"  # noqa: ASYNC240
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1400, "height": 1800})
        try:
            yield await context.new_page()
        finally:
            await context.close()
            await browser.close()


@pytest.mark.browser
@pytest.mark.slow
async def test_two_pages_show_their_plots_offline(site: Path, browser_page: Any) -> None:
    page = browser_page
    remote: list[str] = []

    async def offline(route: Any) -> None:
        # The site must work with no network: anything not from the built files is refused and reported.
        if route.request.url.startswith("file://"):
            await route.continue_()
        else:
            remote.append(route.request.url)
            await route.abort()

    await page.route("**/*", offline)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stem in PLOT_PAGES:
        expected = _plots(EXECUTED / f"{stem}.ipynb")
        assert expected >= 1, f"{stem}: its executed notebook has no plot"
        await page.goto((site / "notebooks" / f"{stem}.html").as_uri(), wait_until="load")
        await page.locator("main .cell_output").first.wait_for()  # the notebook's outputs, rendered
        sizes = await page.eval_on_selector_all(
            ".cell_output img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        if sizes:
            await page.locator(".cell_output img").first.scroll_into_view_if_needed()
        await page.screenshot(path=str(SCREENSHOTS / f"site-{stem}.png"), full_page=False)
        assert len(sizes) == expected, f"{stem}: {len(sizes)} plots on the page, {expected} in the notebook"
        empty = [s for s in sizes if not (s[0] and s[1] > 0 and s[2] > 0)]
        assert not empty, f"{stem}: plots that did not load (complete, width, height): {empty}"
    assert not remote, f"the site asked the network for {remote[:5]}"


def test_the_link_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#there">ok</a> <a href="sub/page.html#nowhere">anchor</a> <img src="gone.png">'
        ' <a href="#top">self</a> <a id="top"></a> <a href="https://example.org/">external link: not checked</a>'
    )
    (tmp_path / "sub" / "page.html").write_text('<h2 id="there">x</h2><a href="../index.html">back</a>')
    assert check_links(tmp_path) == [
        "index.html: sub/page.html#nowhere (no such anchor)",
        "index.html: gone.png (no such file)",
    ]


def test_the_offline_check_finds_a_cdn_script(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<script src="https://cdn.example.org/require.js"></script>'
        '<link rel="stylesheet" href="//cdn.example.org/x.css">'
        '<a href="https://mybinder.org/">a link is fine</a><script src="_static/local.js"></script>'
    )
    assert external_resources(tmp_path) == [
        "index.html: <script src=https://cdn.example.org/require.js>",
        "index.html: <link href=//cdn.example.org/x.css>",
    ]


def _notebook(path: Path, source: str) -> Path:
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


def test_executing_refuses_to_write_a_secret_and_names_a_failing_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LIVEKIT_URL set: the notebooks run against it (here nothing listens; these cells do not connect).
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:9")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "x" * 48)
    leaky = _notebook(tmp_path / "leaky.ipynb", "import os; print(os.environ['LIVEKIT_API_SECRET'])")
    failing = _notebook(tmp_path / "failing.ipynb", "raise RuntimeError('the claim did not hold')")
    out = tmp_path / "out"
    with pytest.raises(SiteError, match=r"leaky\.ipynb: its outputs hold a token or the API secret"):
        execute_notebooks([leaky], out, progress=print)
    assert not (out / "leaky.ipynb").exists()
    with pytest.raises(SiteError, match=r"failing\.ipynb failed") as caught:
        execute_notebooks([failing], out, progress=print)
    assert "the claim did not hold" in str(caught.value) and "\x1b[" not in str(caught.value)


def test_the_build_never_replaces_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SiteError, match="is not a site built before"):
        build_site(tmp_path, executed=tmp_path, progress=print)
    assert (tmp_path / "notes.txt").read_text() == "mine"
