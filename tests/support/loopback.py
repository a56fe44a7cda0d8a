"""A tiny real HTTP server on loopback for the fetcher's tests: routes are plain functions.

The replica (``vksnd.fixtures.portal``) plays the portal; this one plays exact protocol situations
(a gzip bomb, a stall after the headers, a lying Content-Length, a redirect to another loopback
address) with a request log timestamped at the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Route = Callable[["Handler"], None]


@dataclass(frozen=True, slots=True)
class Seen:
    at: float  # time.monotonic() when the request line arrived
    path: str  # with query
    headers: dict[str, str]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        app = self.server.app
        seen = Seen(time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()})
        with app.lock:
            app.seen.append(seen)
            app.in_flight += 1
            app.max_in_flight = max(app.max_in_flight, app.in_flight)
        try:
            route = app.routes.get(self.path) or app.routes.get(urlsplit(self.path).path)
            if route is None:
                send(self, 404, b"<html>not found</html>")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with app.lock:
                app.in_flight -= 1


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    content_type: str | None = "text/html; charset=utf-8",
) -> None:
    handler.send_response(status)
    all_headers = {"Content-Length": str(len(body))}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    all_headers.update(headers or {})
    for name, value in all_headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: Loopback


@dataclass
class Loopback:
    host: str = "127.0.0.1"
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)  # ends stalls
    in_flight: int = 0
    max_in_flight: int = 0
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Loopback:
        server = _Server((self.host, 0), Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def host_key(self) -> str:
        assert self._server is not None
        return f"{self.host}:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(func: Route) -> Route:
            self.routes[path] = func
            return func

        return register

    def hits(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def paths(self) -> list[str]:
        with self.lock:
            return [s.path for s in self.seen]
