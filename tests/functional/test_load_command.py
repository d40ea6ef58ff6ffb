"""`lambdashift load` against a real HTTP server on loopback: paced, counted per version,
bounded in time (issue 17 item 4: the quick start's traffic)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append((self.command, self.headers.get("content-type", ""), body))
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("X-Function-Version", "7")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/notes"
    finally:
        httpd.shutdown()
        httpd.server_close()


def lambdashift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambdashift.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_load_posts_json_at_the_rate_asked_for_the_time_asked(server):
    out = lambdashift("load", server, "--data", '{"title": "load"}', "--rate", "40", "--for", "1s",
                      "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["answers"] == [{"version": "7", "status": 201, "count": result["requests"]}]
    print(f"\nload: {result['requests']} requests at 40/s for 1 s in {result['seconds']} s")
    assert 20 <= result["requests"] <= 41  # paced: never more than asked, bursts not made up
    assert {seen for seen in _Handler.seen} == {("POST", "application/json", '{"title": "load"}')}


def test_load_says_what_it_sent_in_one_line_and_fails_when_nothing_answers(server):
    out = lambdashift("load", server, "--rate", "10", "--for", "1s")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("load: ") and "v7 " in out.stdout and "0 failed in all" in out.stdout
    assert {seen[0] for seen in _Handler.seen} == {"GET"}
    closed = lambdashift("load", "http://127.0.0.1:9/notes", "--rate", "5", "--for", "1s")
    assert closed.returncode == 1 and "no answer" in closed.stdout
