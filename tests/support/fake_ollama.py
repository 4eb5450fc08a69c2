"""A local server speaking Ollama's HTTP API, so the real `ollama` client is tested over loopback.

Only the routes the advisor uses are served (`/api/tags`, `/api/chat`, `/api/show`,
`/api/version`), with the response shapes of Ollama itself. What the "model" answers is scripted
per test: `fake.answer(...)`, `fake.answer_slowly(...)`, `fake.fail(...)` queue the next replies
to `/api/chat`; every request is recorded in `fake.requests`.
"""

import hashlib
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OLLAMA_VERSION = "0.9.0"
DEFAULT_MODELS = ("llama3.2:latest",)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # the parsed JSON body, None for a GET


@dataclass(frozen=True)
class _Reply:
    content: str = ""
    delay: float = 0.0
    status: int = 200
    error: str = ""


def refused_url() -> str:
    """A URL where nothing listens: the port was free a moment ago and is closed again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def digest_of(name: str) -> str:
    # Ollama lists a model's digest as bare sha256 hex; a stable fake keeps tests predictable.
    return hashlib.sha256(name.encode()).hexdigest()


def full_name(name: str) -> str:
    # Ollama treats "llama3.2" and "llama3.2:latest" as the same model.
    return name if ":" in name else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details() -> dict:
    return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


class FakeOllama:
    """Start with `with FakeOllama() as fake:` (or the `fake_ollama` fixture)."""

    def __init__(self, models=DEFAULT_MODELS):
        self.models = [full_name(name) for name in models]
        self.requests: list[RecordedRequest] = []
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        # Set on stop so a handler sleeping in answer_slowly() ends at once.
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        # A short poll interval: shutdown() waits for the next poll, and tests stop it often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="fake-ollama")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeOllama":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- scripting the model's next answers to /api/chat --------------------------------------

    def answer(self, content: str) -> None:
        self._queue(_Reply(content=content))

    def answer_slowly(self, content: str, delay_seconds: float) -> None:
        self._queue(_Reply(content=content, delay=delay_seconds))

    def fail(self, status: int = 500, error: str = "llama runner process has terminated") -> None:
        self._queue(_Reply(status=status, error=error))

    def _queue(self, reply: _Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def next_reply(self) -> _Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return _Reply(status=500, error="FakeOllama: no answer queued for this chat request")

    # -- what the tests read back -------------------------------------------------------------

    def record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, body))

    @property
    def chat_requests(self) -> list[dict]:
        return [request.body for request in self.requests if request.path == "/api/chat"]

    def knows(self, name: str) -> bool:
        return full_name(name) in self.models

    def tags(self) -> dict:
        return {"models": [
            {"name": name, "model": name, "modified_at": "2026-01-05T09:30:00.000000+00:00",
             "size": 2019393189, "digest": digest_of(name), "details": _details()}
            for name in self.models
        ]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as Ollama does
    server_version = "FakeOllama"

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    def log_message(self, format, *args):
        pass  # keep pytest output clean

    def handle_one_request(self):
        # A client that timed out has closed its end; that is the scenario, not a failure.
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self.fake.record("GET", self.path, None)
        routes = {"/": lambda: self._send_text(200, "Ollama is running"),
                  "/api/tags": lambda: self._send_json(200, self.fake.tags()),
                  "/api/version": lambda: self._send_json(200, {"version": OLLAMA_VERSION})}
        routes.get(self.path, self._not_found)()

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError as error:
            self.fake.record("POST", self.path, None)
            self._send_json(400, {"error": f"invalid request body: {error}"})
            return
        self.fake.record("POST", self.path, body)
        routes = {"/api/chat": self._chat, "/api/show": self._show}
        routes.get(self.path, lambda _body: self._not_found())(body)

    def _show(self, body: dict):
        name = body.get("model") or body.get("name") or ""
        if not self.fake.knows(name):
            self._model_not_found(name)
            return
        self._send_json(200, {
            "modelfile": f"FROM {full_name(name)}\n", "parameters": "stop \"<|eot_id|>\"",
            "template": "{{ .Prompt }}", "details": _details(),
            "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"],
            "modified_at": "2026-01-05T09:30:00.000000+00:00",
        })

    def _chat(self, body: dict):
        name = body.get("model", "")
        if not self.fake.knows(name):
            self._model_not_found(name)
            return
        reply = self.fake.next_reply()
        if reply.delay and self.fake.stopping.wait(reply.delay):
            return  # the server is stopping: nobody waits for this answer any more
        if reply.status != 200:
            self._send_json(reply.status, {"error": reply.error})
        elif body.get("stream", True):  # Ollama streams unless told not to
            self._stream_chat(name, reply.content)
        else:
            self._send_json(200, {**self._chat_part(name, reply.content), **_done_fields()})

    def _stream_chat(self, name: str, content: str):
        pieces = [content[start:start + 16] for start in range(0, len(content), 16)]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self._send_chunk({**self._chat_part(name, piece), "done": False})
        self._send_chunk({**self._chat_part(name, ""), **_done_fields()})
        self._write(b"0\r\n\r\n")

    def _chat_part(self, name: str, content: str) -> dict:
        return {"model": name, "created_at": _now(),
                "message": {"role": "assistant", "content": content}}

    def _send_chunk(self, part: dict):
        line = json.dumps(part).encode() + b"\n"
        self._write(b"%x\r\n%s\r\n" % (len(line), line))

    def _model_not_found(self, name: str):
        self._send_json(404, {"error": f"model '{name}' not found"})

    def _not_found(self):
        self._send_text(404, "404 page not found")

    def _send_json(self, status: int, payload: dict):
        self._send(status, "application/json; charset=utf-8", json.dumps(payload).encode())

    def _send_text(self, status: int, text: str):
        self._send(status, "text/plain; charset=utf-8", text.encode())

    def _send(self, status: int, content_type: str, data: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._write(data)

    def _write(self, data: bytes):
        self.wfile.write(data)
        self.wfile.flush()


def _done_fields() -> dict:
    return {"done_reason": "stop", "done": True, "total_duration": 812_345_678,
            "load_duration": 12_345_678, "prompt_eval_count": 412,
            "prompt_eval_duration": 300_000_000, "eval_count": 64,
            "eval_duration": 500_000_000}


@pytest.fixture
def fake_ollama():
    with FakeOllama() as fake:
        yield fake

