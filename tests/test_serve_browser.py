"""The page of ``rnnkit serve`` in a real browser: headless Chromium (Debian's ``chromium``,
which .ci/run installs) driven by Playwright loads the page, submits a text to a translate run,
an image to a caption run and a clip to a speech run, and reads each result from the page; it
equals the API's answer for the same input. Screenshots go to the test's temporary folder, or
with RNNKIT_SCREENshots=docs/img to docs/img/serve-*.png (the docs' pictures; a test run leaves
the tree alone).

Skipped, with the reason, only where no ``chromium`` is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from rnnkit.serve.app import create_app
from rnnkit.serve.limits import Limits
from rnnkit.serve.served import ServedRun
from tests.serve_helpers import live_server, train_tiny


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium): browser test not run")
    return path


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    browser = chromium()
    root = tmp_path_factory.mktemp("browser")
    folders = {task: train_tiny(task, root / task) for task in ("translate", "caption", "speech")}
    runs = [ServedRun.load(f, Limits()) for f in folders.values()]
    with live_server(create_app(runs)) as url:
        yield url, folders, browser


def submit_and_read(page, url: str, run: str, text: str | None = None, file: Path | None = None):
    page.goto(f"{url}/?run={run}")
    page.wait_for_selector("#submit")
    if text is not None:
        page.fill("#text", text)
    if file is not None:
        page.set_input_files("#file", str(file))
    page.click("#submit")
    page.wait_for_selector("#result[data-state=done], #result[data-state=error]", timeout=60_000)
    assert page.get_attribute("#result", "data-state") == "done", page.inner_text("#result")
    return page.inner_text("#output").strip()


def test_translate_caption_and_transcribe_in_the_browser(page_url, tmp_path):
    from playwright.sync_api import sync_playwright

    url, folders, browser = page_url
    png = folders["caption"].parent / "train" / "000.png"
    wav = folders["speech"].parent / "train" / "audio" / "000.wav"
    api = f"{url}/v1/runs"

    def row(run: str, **kw) -> dict:
        return httpx.post(f"{api}/{run}/predict", timeout=60, **kw).json()["rows"][0]

    want_translation = row("translate", json={"inputs": ["the big cat sees a dog."]})
    want_caption = row("caption", files=[("files", (png.name, png.read_bytes()))])
    want_text = row("speech", files=[("files", (wav.name, wav.read_bytes()))])
    shots = Path(os.environ.get("RNNKIT_SCREENshots") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            page = b.new_page(viewport={"width": 1000, "height": 760})
            got = submit_and_read(page, url, "translate", text="the big cat sees a dog.")
            assert got == want_translation["output"]
            assert page.locator(".heat td").count() > 0  # the attention map is drawn
            page.screenshot(path=str(shots / "serve-translate.png"), full_page=True)

            got = submit_and_read(page, url, "caption", file=png)
            assert got.split() == want_caption["tokens"]
            page.hover(".word >> nth=0")
            page.screenshot(path=str(shots / "serve-caption.png"), full_page=True)

            got = submit_and_read(page, url, "speech", file=wav)
            assert got == (want_text["text"] or "(nothing heard)")
            assert "000.wav" in page.inner_text("#result")
            page.screenshot(path=str(shots / "serve-speech.png"), full_page=True)

            page.goto(f"{url}/?run=nosuch")  # an unknown run in the address: the first run
            page.wait_for_selector("#submit")
            page.click("#submit")  # nothing typed: the page says so, no request goes out
            page.wait_for_selector("#result[data-state=error]")
            assert "type an input" in page.inner_text("#error")
        finally:
            b.close()
