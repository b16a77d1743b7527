"""``rnnkit inspect``: the activation features, the self-contained page, and the page in a
real headless Chromium (skipped, with the reason, where Chromium is not installed).

Install Chromium on Debian/Ubuntu with: apt-get install -y chromium
The browser is driven over the Chrome DevTools Protocol on a pipe (--remote-debugging-pipe),
so the test needs no Python package beyond the standard library.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from rnnkit.analysis.activations import correlations, text_features
from rnnkit.analysis.inspect import inspect_run
from rnnkit.cli.main import main
from rnnkit.runs.lm import train_lm

TEXT = 'ROMEO:\nBut soft, "what light" (through yonder)\nwindow breaks? It is the east.\n'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lm") / "run"
    train_lm(
        out=out,
        hidden_size=16,
        num_layers=2,
        embed_dim=8,
        max_steps=3,
        seq_len=20,
        batch_size=4,
        eval_every=3,
        progress=False,
    )
    return out


def _page_data(page: str) -> dict:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_features_and_correlations():
    tokens = list('a "b c" (d)\nef')
    f = text_features(tokens)
    assert f["inside quotes"].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert f["inside brackets"].tolist() == [0] * 8 + [1, 1, 1, 0, 0, 0]
    assert f["position in line"].tolist() == list(range(12)) + [0, 1]
    rng = np.random.default_rng(0)
    states = rng.normal(size=(14, 6))
    r = correlations(states, f["position in line"])
    expect = [np.corrcoef(states[:, j], f["position in line"])[0, 1] for j in range(6)]
    np.testing.assert_allclose(r, expect, rtol=1e-10)


def test_page_is_self_contained_and_holds_the_text(run_dir, tmp_path):
    out = tmp_path / "view.html"
    r = inspect_run(run_dir, TEXT, out)
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no network
    data = _page_data(page)
    assert "".join(data["tokens"]) == TEXT
    assert len(data["neurons"]) == len(r["neurons"]) >= 2
    for n in data["neurons"]:
        assert len(n["values"]) == len(TEXT)
    for top in data["top"]:
        probs = [p for _, p in top]
        assert len(top) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001


def test_text_file_and_bad_input(run_dir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(TEXT, encoding="utf-8")
    assert (
        main(["inspect", str(run_dir), "--text", str(src), "--out", str(tmp_path / "v.html")]) == 0
    )
    assert "".join(_page_data((tmp_path / "v.html").read_text())["tokens"]) == TEXT
    assert main(["inspect", str(run_dir), "--text", "\u2603\u2603", "--out", "x.html"]) == 2
    assert main(["inspect", str(tmp_path / "nowhere"), "--text", "ab", "--out", "x.html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("rnnkit: error:") for e in err)


class Chromium:
    """Headless Chromium driven by the DevTools Protocol over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: str):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # the protocol reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
        ]
        self.proc = subprocess.Popen(
            [binary, *flags, "about:blank"],
            preexec_fn=fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, session: str, expr: str):
        r = self.send("Runtime.evaluate", session, expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian/Ubuntu: apt-get install -y chromium)",
)
def test_page_in_headless_chromium(run_dir, tmp_path):
    """The page loads, switching neurons recolours the text, a screenshot is produced."""
    out = tmp_path / "view.html"
    inspect_run(run_dir, TEXT, out)
    with tempfile.TemporaryDirectory() as profile:
        browser = Chromium(CHROMIUM, profile)
        try:
            target = browser.send("Target.createTarget", url=out.as_uri())["targetId"]
            session = browser.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            deadline = time.monotonic() + 30
            loaded = "document.readyState === 'complete' && window.rnnkitView !== undefined"
            while not browser.evaluate(session, loaded):  # the tab starts on about:blank
                assert time.monotonic() < deadline, "the page did not finish loading"
                time.sleep(0.1)
            colours = (
                "Array.from(document.querySelectorAll('#text span'))"
                ".map(s => s.style.backgroundColor)"
            )
            assert browser.evaluate(
                session, "document.querySelectorAll('#text span').length"
            ) == len(TEXT)
            assert browser.evaluate(session, "window.rnnkitView.current()") == 0
            first = browser.evaluate(session, colours)
            assert all(c.startswith("rgb") for c in first)  # rgb(...) when alpha is 1
            browser.evaluate(session, "document.querySelectorAll('#neurons button')[1].click()")
            assert browser.evaluate(session, "window.rnnkitView.current()") == 1
            second = browser.evaluate(session, colours)
            assert second != first  # a different neuron, a different colouring
            active = "document.querySelector('#neurons button.active').dataset.k"
            assert browser.evaluate(session, active) == "1"
            browser.evaluate(
                session,
                "document.querySelectorAll('#text span')[3]"
                ".dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))",
            )
            tip = browser.evaluate(session, "window.rnnkitView.tooltip()")
            assert tip.count("%") == 5  # the five most likely next tokens
            shot = browser.send("Page.captureScreenshot", session, format="png")["data"]
            png = base64.b64decode(shot)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
            (tmp_path / "view.png").write_bytes(png)
        finally:
            browser.close()
