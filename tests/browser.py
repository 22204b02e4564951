"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
ending in NUL on file descriptors 3 and 4), so no websocket client or driver package is needed. Used by
tests/test_serve.py to load the service's page, wait until it shows its answer, read the DOM and take a
screenshot."""
import base64
import json
import os
import shutil
import subprocess
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _onto_3_and_4(to_chrome, from_chrome):
    """In the child: the pipe ends as fds 3 (commands in) and 4 (replies out), as Chromium expects."""
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]  # out of 3 and 4's way
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


class Browser:
    def __init__(self, profile, width=1000, height=760):
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _onto_3_and_4(to_chrome, from_chrome))
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._id, self.size = b"", 0, (width, height)

    def _send(self, method, params=None, session=None):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:  # events and other answers are skipped
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _next(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url, timeout=120):
        """Load `url` in a new tab; wait until document.body.dataset.done is set (the page's query answered)."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        width, height = self.size
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self._send("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + timeout
        while self.evaluate(session, "document.body && document.body.dataset.done || ''") != "1":
            if time.monotonic() > deadline:
                raise AssertionError(f"the page did not finish in {timeout} s: {self.dom(session)[-1500:]}")
            time.sleep(0.1)
        return session

    def evaluate(self, session, expression):
        return self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                          session)["result"].get("value")

    def dom(self, session):
        return self.evaluate(session, "document.documentElement.outerHTML")

    def screenshot(self, session, path):
        data = self._send("Page.captureScreenshot", {"format": "png"}, session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self._send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._write)
        os.close(self._read)
