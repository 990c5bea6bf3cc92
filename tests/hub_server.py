"""A tiny Hugging Face hub on 127.0.0.1, for tests of the online download path.

It answers the hub's file endpoint, ``/{repo}/resolve/{revision}/{filename}`` (HEAD and GET),
the way huggingface.co does for what huggingface_hub reads: ``ETag``, ``X-Repo-Commit``,
``Content-Length``, and 404s with ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``). Point ``HF_ENDPOINT`` at :attr:`Hub.url` before huggingface_hub is imported
(in a subprocess) and transformers and timm download from it. Every request is logged, so a
test can say which revision was asked for and whether a second load used the cache.

Any other path (e.g. torchvision's weights) can be served with :meth:`Hub.serve_path`.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from dataclasses import dataclass, field

RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")


@dataclass
class Repo:
    """One repository at one commit. ``truncated`` files are served cut in half (a complete
    transfer of a broken file, as from a corrupt upload or a bad mirror)."""

    commit: str
    files: dict[str, bytes]
    truncated: set[str] = field(default_factory=set)
    main_is_commit: bool = True  # "main" resolves to ``commit`` too


class Hub:
    """Serve repositories on a free loopback port until :meth:`stop`."""

    def __init__(self, repos: dict[str, Repo]) -> None:
        self.repos = repos
        self.paths: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, with_body: bool) -> None:
                path = self.path.split("?", 1)[0]
                hub.log.append((self.command, path))
                status, headers, body, announced = hub._respond(path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                if with_body and body:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:  # noqa: N802 - the http.server API
                self._answer(with_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(with_body=True)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve_path(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path`` (e.g. ``/models/x.pth``); returns its URL."""
        self.paths[path] = body
        return self.url + path

    def requests_for(self, fragment: str, method: str = "GET") -> list[str]:
        """Logged paths of ``method`` requests that contain ``fragment``."""
        return [path for verb, path in self.log if verb == method and fragment in path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _respond(self, path: str) -> tuple[int, dict[str, str], bytes, int]:
        if path in self.paths:
            body = self.paths[path]
            return 200, {"Content-Type": "application/octet-stream"}, body, len(body)
        match = RESOLVE.match(path)
        if match is None or match["repo"] not in self.repos:
            return 404, {"X-Error-Code": "RepoNotFound"}, b"", 0
        repo = self.repos[match["repo"]]
        if match["revision"] != repo.commit and not (match["revision"] == "main"
                                                     and repo.main_is_commit):
            return 404, {"X-Error-Code": "RevisionNotFound"}, b"", 0
        body = repo.files.get(match["filename"])
        if body is None:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit}, b"", 0
        if match["filename"] in repo.truncated:
            body = body[: len(body) // 2]
        headers = {"ETag": f'"{hashlib.sha256(body).hexdigest()}"', "X-Repo-Commit": repo.commit,
                   "Content-Type": "application/octet-stream"}
        return 200, headers, body, len(body)
