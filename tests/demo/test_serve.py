"""``audit serve`` really serves the application (as bin/run uses it)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_the_printed_address(cli_env):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from audit.cli import main; main()", "serve", "--port",
                             str(port)],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    page = resp.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
        assert resp.status == 200 and "公益性岗位与就业帮扶车间审计系统" in page
        # a search by name: the access log shows the path, never the query
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/persons?q=%E7%8E%8B%E5%A4%A7%E5%B1%B1",
                                    timeout=5):
            pass
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert '"GET /persons HTTP/1.1" 302' in out or '"GET /persons HTTP/1.1" 200' in out, out
    assert "q=" not in out and "%E7%8E%8B" not in out
