"""Fixtures of the tests: a GTZAN-shaped folder, and headless Chromium (a page's DOM, or a page to
drive over the DevTools protocol). The private cache and the tiny trained run are in the root
conftest.py, which the docstring examples share; plain helpers are in tiny.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tiny import free_port, tone, write


@pytest.fixture
def gtzan_dir(tmp_path):
    """A GTZAN-layout folder under ``genres/``: .au and .wav clips and the WAV copy's broken jazz.00054."""
    base = tmp_path / "gtzan" / "genres"
    for g, f in (("jazz", 330.0), ("rock", 110.0)):
        for i in range(3):
            ext, kw = ("au", {"format": "AU", "subtype": "PCM_16"}) if i == 0 else ("wav", {})
            write(base / g / f"{g}.{i:05d}.{ext}", tone(1.0, freq=f * (i + 1)), **kw)
    (base / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 7)
    (base / "jazz" / "jazz.mf").write_text("a GTZAN index file, not a clip\n")
    return tmp_path / "gtzan"


class DevTools:
    """A page open in headless Chromium, driven over the DevTools protocol."""

    def __init__(self, ws) -> None:
        self.ws, self.next_id = ws, 0

    def _send(self, expression: str, *, await_promise: bool) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "awaitPromise": await_promise,
                                            "returnByValue": True}}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self.next_id:
                return reply.get("result", {})

    def evaluate(self, expression: str):
        """Evaluate JavaScript in the page (awaiting a promise); its value."""
        result = self._send(expression, await_promise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60.0) -> None:
        """Until ``expression`` is true in the page (an evaluation that fails, a document
        replaced while it ran, counts as false)."""
        deadline = time.time() + seconds
        while True:
            result = self._send(expression, await_promise=False)
            if "exceptionDetails" not in result and result.get("result", {}).get("value"):
                return
            assert time.time() < deadline, f"never true in the page: {expression}"
            time.sleep(0.2)


class Chromium:
    """Headless Chromium with a profile of its own."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]

    def __init__(self, profile: Path) -> None:
        self.profile = profile

    def dump_dom(self, url: str, *, budget_ms: int = 2000) -> str:
        """The page's DOM once its scripts ran for ``budget_ms`` of virtual time."""
        out = subprocess.run(["chromium", *self.FLAGS, f"--user-data-dir={self.profile}",
                              f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120)
        return out.stdout

    @contextmanager
    def page(self, url: str, *, ready: str) -> Iterator[DevTools]:
        """``url`` open in the browser, once the JavaScript ``ready`` is true in it (the target is
        listed as soon as its navigation starts, while it may still hold the initial about:blank
        document: wait for the page's own elements)."""
        import httpx
        from websockets.sync.client import connect

        port = free_port()
        browser = subprocess.Popen(["chromium", *self.FLAGS, f"--remote-debugging-port={port}",
                                    f"--user-data-dir={self.profile}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline, target = time.time() + 60, None
            while target is None and time.time() < deadline:
                try:
                    target = next((t for t in httpx.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                                   if t.get("type") == "page" and t["url"].startswith(url.split("?")[0])), None)
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.3)
            assert target is not None, "Chromium did not open the page"
            with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                page = DevTools(ws)
                page.wait_for(ready)
                yield page
        finally:
            browser.terminate()
            browser.wait(timeout=10)


@pytest.fixture
def chromium(tmp_path) -> Chromium:
    """Headless Chromium (the test skips where it is not installed)."""
    if not shutil.which("chromium"):
        pytest.skip("Chromium is not installed")
    return Chromium(tmp_path / "chromium-profile")
