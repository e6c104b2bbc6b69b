"""A stand-in for the Hugging Face Hub: the API call and the download `jupyter nexus models pull` makes.

A real HTTP server on a thread (``HF_ENDPOINT`` points at ``hub.url``) serving
files given as bytes, the way the Hub does:

* ``GET /api/models/{repo}/revision/{rev}?blobs=True``: the model info, with each
  file's size and LFS SHA-256 and the commit it describes;
* ``GET|HEAD /{repo}/resolve/{rev}/{filename}``: the file, with the Hub's
  ``X-Repo-Commit``, ``ETag`` / ``X-Linked-Etag`` and ``X-Linked-Size`` headers,
  answering ``Range: bytes=N-`` with ``206`` and ``Content-Range``.

The test sets what goes wrong: ``cut_at`` (drop the connection once the file's
first that-many bytes are sent, then answer 503, as if the network went away,
until ``down`` is cleared), ``corrupt`` (serve other bytes than the SHA-256
the API lists), ``delay_s`` (a pause per 16 KiB: a slow link) and ``lfs_in_api``
(off: the listing has no SHA-256, only the file's ``X-Linked-Etag`` does). Every file
request is recorded: its ``Range`` header and the bytes of the file it sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT = "c0ffee" + "0" * 34
CHUNK = 16 * 1024


@dataclass
class FileRequest:
    method: str
    range: str | None
    sent: int = 0


@dataclass
class HubStandIn:
    files: dict[tuple[str, str], bytes]
    cut_at: int | None = None
    down: bool = False
    corrupt: bool = False
    delay_s: float = 0.0
    lfs_in_api: bool = True
    requests: list[FileRequest] = field(default_factory=list)
    api_calls: int = 0
    url: str = ""

    def __enter__(self) -> HubStandIn:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_HEAD(self) -> None:
                hub.serve(self, body=False)

            def do_GET(self) -> None:
                hub.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answers --------------------------------------------------------------------------------------
    def serve(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        if self.down:
            return self._json(handler, 503, {"error": "the network is down"})
        api = re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", path)
        if api:
            self.api_calls += 1
            return self._model_info(handler, api["repo"])
        resolve = re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<name>.+)", path)
        if resolve and (resolve["repo"], resolve["name"]) in self.files:
            return self._file(handler, self.files[(resolve["repo"], resolve["name"])], body)
        handler.send_response(404)
        handler.send_header("X-Error-Code", "RepoNotFound" if not resolve else "EntryNotFound")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return None

    def _json(self, handler: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _model_info(self, handler: BaseHTTPRequestHandler, repo: str) -> None:
        siblings = [
            {
                "rfilename": name,
                "size": len(data),
                "blobId": hashlib.sha1(data).hexdigest(),
                **(
                    {
                        "lfs": {
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data),
                            "pointerSize": 134,
                        }
                    }
                    if self.lfs_in_api
                    else {}
                ),
            }
            for (r, name), data in self.files.items()
            if r == repo
        ]
        if not siblings:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "RepoNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        self._json(handler, 200, {"id": repo, "sha": COMMIT, "private": False, "siblings": siblings})

    def _file(self, handler: BaseHTTPRequestHandler, data: bytes, body: bool) -> None:
        sha1, sha256 = hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest()
        if self.corrupt:  # altered on the way: the headers still describe the Hub's file
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        asked = handler.headers.get("Range")
        record = FileRequest(handler.command, asked)
        if body:
            self.requests.append(record)
        start = 0
        if asked:
            match = re.fullmatch(r"bytes=(\d+)-", asked.strip())
            start = int(match.group(1)) if match else 0
        handler.send_response(206 if start else 200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("ETag", f'"{sha1}"')
        handler.send_header("X-Linked-Etag", f'"{sha256}"')
        handler.send_header("X-Linked-Size", str(len(data)))
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.end_headers()
        if not body:
            return
        position = start
        try:
            while position < len(data):
                end = min(position + CHUNK, len(data))
                if self.cut_at is not None and position < self.cut_at <= end:
                    end = self.cut_at
                handler.wfile.write(data[position:end])
                handler.wfile.flush()
                record.sent += end - position
                position = end
                if self.cut_at is not None and position == self.cut_at:
                    self.cut_at, self.down = None, True  # the connection drops; the network stays down
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    handler.close_connection = True
                    return
                if self.delay_s:
                    time.sleep(self.delay_s)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (a cancelled pull)
            handler.close_connection = True


def fake_gguf(size: int = 24 * 1024 * 1024, seed: int = 7) -> bytes:
    """Bytes that start like a GGUF file (never loaded as a model). 24 MiB by default: huggingface_hub
    writes in 10 MiB chunks, so a cut download of it keeps a partial file to resume from."""
    import random

    return b"GGUF\x03\x00\x00\x00" + random.Random(seed).randbytes(size)
