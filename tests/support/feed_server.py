"""A local HTTP server for news feeds: each path serves the bytes a test gives it, with an
ETag so the poller's conditional GET gets a 304 when nothing changed."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FeedServer:
    def __init__(self):
        self.files: dict[str, tuple[int, bytes]] = {}
        self.hits: list[tuple[str, str]] = []  # (path, If-None-Match sent)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.feeds = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="feed-server")

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def serve(self, path: str, content: bytes | str, status: int = 200) -> str:
        data = content.encode() if isinstance(content, str) else content
        self.files[path] = (status, data)
        return self.url(path)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        feeds: FeedServer = self.server.feeds
        sent = self.headers.get("If-None-Match", "")
        feeds.hits.append((self.path, sent))
        status, data = feeds.files.get(self.path, (404, b"not found"))
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if status == 200 and sent == etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server
