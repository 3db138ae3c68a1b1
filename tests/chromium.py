"""Headless Chromium for the report tests, driven over the DevTools protocol (no downloads).

Debian's ``chromium`` package (``.ci/run`` installs it) is started with a fresh profile and
``--remote-debugging-port=0``; :class:`Browser` talks to its page target through
``websocket-client``: navigate, evaluate JavaScript, collect console errors and uncaught
exceptions, take screenshots. WebGL runs on SwiftShader (Chromium's CPU renderer), so the 3D
viewer is tested on machines without a GPU.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    """Chromium's executable, or None where it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, profile_dir: Path, width: int = 1280, height: int = 900) -> None:
        import websocket  # websocket-client, a test dependency

        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed")
        profile_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._devtools_port()
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _devtools_port(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                return int(match.group(1))
        self.process.kill()
        raise RuntimeError("chromium did not open its DevTools port:\n" + "".join(seen[-20:]))

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and end the browser process started here."""
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and wait for its result (events are kept in ``events``)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str, timeout: float = 60) -> dict:
        """Block until the page sends event ``method`` (or one already arrived)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return message
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, url: str, timeout: float = 120) -> None:
        """Navigate and wait for the load event."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, context: int | None = None):
        """The value of a JavaScript expression in the page, or in the frame whose execution
        ``context`` is given (:meth:`frame_context`); promises are awaited."""
        params = {"contextId": context} if context is not None else {}
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True, **params)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 60, context: int | None = None) -> None:
        """Poll a JavaScript condition (in the page or a frame's context) until it is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression, context):
                    return
            except RuntimeError:
                pass  # the frame's document may not have run its scripts yet
            time.sleep(0.2)
        raise TimeoutError(f"{expression!r} not true within {timeout} s")

    def frame_context(self, name: str, timeout: float = 60) -> int:
        """The execution context of the child frame (iframe) named ``name``, once it has
        loaded a document (a blocked load, e.g. of a too-long data: URL, never does)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = self.call("Page.getFrameTree")["frameTree"].get("childFrames", [])
            ids = {f["frame"]["id"] for f in frames if f["frame"].get("name") == name
                   and not f["frame"]["url"].startswith("about:")}
            for event in self.events:
                if event.get("method") == "Runtime.executionContextCreated":
                    context = event["params"]["context"]
                    if context["auxData"].get("frameId") in ids and context["auxData"].get("isDefault"):
                        return context["id"]
            time.sleep(0.2)
        raise TimeoutError(f"no loaded frame named {name!r} within {timeout} s")

    def errors(self) -> list[str]:
        """Console errors, failed loads and uncaught exceptions the page has reported so far."""
        self.call("Runtime.evaluate", expression="0")  # flush pending events into self.events
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path, clip: dict | None = None) -> Path:
        """Save a PNG of the page (or of ``clip``: x, y, width, height in CSS px)."""
        params = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
