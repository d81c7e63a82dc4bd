"""A registry that answers from a table (path -> Answer), for the tests of what `boxtrace pull` does
with a registry that misbehaves (tests/runtime/test_pull_hostile.py, tests/fuzz/test_fuzz_registry.py):
an HTTP server on 127.0.0.1 and a free port, each answer's status, headers, body, Content-Length (or
none), a body that never ends, a connection reset after the body."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import socket
import struct
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from boxtrace.cli import main
from boxtrace.runtime.images.platform import host_platform
from tests.runtime.test_images import BASE, UPPER, layer_tar

ENDLESS_CAP = 64 << 20  # the server gives up on an endless body after this much (the client must stop first)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Answer:
    """What the server sends for one path."""

    __slots__ = ("body", "endless", "headers", "length", "reset", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        length: int | None = None,
        endless: bool = False,
    ) -> None:
        self.status, self.body, self.headers = status, body, dict(headers or {})
        self.length = len(body) if length is None else length  # the Content-Length header; -1: none
        self.endless = endless
        self.reset = False  # the connection is reset (RST) after the body


class FakeRegistry:
    """A registry that answers from ``routes`` (path -> Answer); anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, the end of a body is the end of the connection
            # (a Content-Length that promises more than is sent ends instead of hanging).
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                answer = registry.routes.get(self.path.split("?")[0]) or Answer(
                    b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}', 404
                )
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    if answer.length >= 0 and not answer.endless:
                        self.send_header("Content-Length", str(answer.length))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    sent = len(answer.body)
                    chunk = b"x" * (64 << 10)
                    while answer.endless and sent < ENDLESS_CAP:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    if answer.reset:
                        self.wfile.flush()
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        self.connection.close()
                except OSError:
                    pass  # the client stopped reading: what it should do with an endless body

        return Handler


# --- an image to serve, spoilt ----------------------------------------------------------------------

REPO = "fuzz/app"
OS, ARCH, *VARIANT = (p for p in host_platform() if p)
PLATFORM = {"os": OS, "architecture": ARCH, **({"variant": VARIANT[0]} if VARIANT else {})}
LAYERS = [layer_tar(BASE), layer_tar(UPPER)]  # (gzip blob, diff_id)
DIFF_IDS = {diff_id.removeprefix("sha256:") for _, diff_id in LAYERS}
CONFIG: dict[str, Any] = {
    **PLATFORM,
    "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in LAYERS]},
}
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def image(
    config: Any = CONFIG,
    edit_manifest: Callable[[dict[str, Any]], Any] | None = None,
    edit_index: Callable[[dict[str, Any]], Any] | None = None,
    with_index: bool = False,
) -> dict[str, bytes]:
    """The blobs ``routes`` serves: "tag" (what the tag names: the manifest, or an index of it),
    "manifest", "config", "layer0", "layer1". Each document is edited before the digest naming it is
    taken, so an edit reaches the parser instead of failing the digest check."""
    config_bytes = json.dumps(config).encode()
    manifest: Any = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest(b), "size": len(b)} for b, _ in LAYERS],
    }
    manifest_bytes = json.dumps(edit_manifest(manifest) if edit_manifest else manifest).encode()
    index: Any = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": digest(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": dict(PLATFORM),
            }
        ],
    }
    index_bytes = json.dumps(edit_index(index) if edit_index else index).encode()
    return {
        "tag": index_bytes if with_index else manifest_bytes,
        "manifest": manifest_bytes,
        "config": config_bytes,
        "layer0": LAYERS[0][0],
        "layer1": LAYERS[1][0],
    }


def routes(
    host: str, blobs: dict[str, bytes], with_index: bool, target: str, fault: tuple[str, Any]
) -> dict[str, Answer]:
    """The routes serving ``blobs`` (tag: what the tag v1 names, an index if ``with_index``), the
    answer for ``target`` spoilt by ``fault`` (kind, value)."""
    paths = {
        "tag": f"/v2/{REPO}/manifests/v1",
        "manifest": f"/v2/{REPO}/manifests/{digest(blobs['manifest'])}",
        "config": f"/v2/{REPO}/blobs/{digest(blobs['config'])}",
        "layer0": f"/v2/{REPO}/blobs/{digest(blobs['layer0'])}",
        "layer1": f"/v2/{REPO}/blobs/{digest(blobs['layer1'])}",
    }
    types = {"tag": INDEX_TYPE if with_index else MANIFEST_TYPE, "manifest": MANIFEST_TYPE}
    routes = {
        paths[name]: Answer(data, headers={"Content-Type": types.get(name, "application/octet-stream")})
        for name, data in blobs.items()
    }
    answer = routes[paths[target]]
    kind, value = fault
    if kind == "status":
        code, message = value if isinstance(value, tuple) else (value, "no")
        body = json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()
        routes[paths[target]] = Answer(body, code)
    elif kind == "redirect":
        location = paths[target] if value == "loop" else value
        routes[paths[target]] = Answer(b"", 302, {"Location": location} if location else {})
    elif kind == "content-type":
        answer.headers["Content-Type"] = value
    elif kind == "digest-header":
        answer.headers["Docker-Content-Digest"] = value
    elif kind == "short-length":
        answer.length = max(0, len(answer.body) - value)
    elif kind == "long-length":
        answer.length = len(answer.body) + value
    elif kind == "no-length":
        answer.length = -1
    elif kind == "extra":
        answer.body += b"\0" * value
        answer.length = len(answer.body)
    elif kind == "truncate":
        answer.body = answer.body[:value]
        answer.length = len(answer.body)
    elif kind == "reset":  # cut short, Content-Length promising the rest, the connection reset
        answer.body = answer.body[:value]
        answer.reset = True
    elif kind == "endless":
        answer.endless = True
    elif kind == "garbage":
        answer.body = value
        answer.length = len(value)
    elif kind == "token":
        realm = f"http://{host}/token"
        routes[paths[target]] = Answer(
            b"",
            401,
            {"WWW-Authenticate": f'Bearer realm="{realm}",service="fuzz",scope="repository:{REPO}:pull"'},
        )
        routes["/token"] = Answer(value, headers={"Content-Type": "application/json"})
    return routes


def snapshot(root: str) -> dict[str, tuple[int, bytes | None]]:
    """Every path under the store: (mode, content of a file)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    content = f.read()
            found[os.path.relpath(path, root)] = (info.st_mode, content)
    return found


def assert_store_clean(root: str, status: int, before: dict[str, tuple[int, bytes | None]]) -> None:
    """After a failed pull, what was in the store is unchanged and what was added is complete layers
    of the real image (the unpacked tree and its metadata); nothing is left in tmp/."""
    after = snapshot(root) if os.path.exists(root) else {}
    assert not [p for p in after if p.startswith("tmp" + os.sep)], sorted(after)
    layers = {p.split(os.sep)[1] for p in after if p.startswith("layers" + os.sep)}
    for name in layers:
        stem = name.removesuffix(".json")
        assert stem in DIFF_IDS, name  # a layer that is not the verified one of the image
        assert stem in layers and stem + ".json" in layers, sorted(layers)  # tree and metadata, both
    assert {p.split(os.sep)[0] for p in after} <= {"tmp", "layers", "images"}, sorted(after)
    if status == 0:
        return
    assert {p: v for p, v in after.items() if p in before} == before  # nothing changed or removed
    added = [p for p in after if p not in before and p not in ("tmp", "layers")]
    assert all(p.startswith("layers" + os.sep) for p in added), added


def pull(registry: FakeRegistry, table: dict[str, Answer], prefill: bool = False) -> tuple[int, str]:
    """`boxtrace pull -q HOST/fuzz/app:v1` in this process, into a store of its own (with the image
    pulled whole before from ``image()``, if ``prefill``) that is checked afterwards: (exit status,
    stderr). An exception other than SystemExit fails the caller."""
    with tempfile.TemporaryDirectory(prefix="fake-registry-store-") as tmp:
        store = os.path.join(tmp, "store")
        saved = os.environ.get("BOXTRACE_STORE")
        os.environ["BOXTRACE_STORE"] = store
        try:
            if prefill:
                registry.routes = routes(registry.host, image(), False, "tag", ("none", 0))
                assert _main(["pull", "-q", f"{registry.host}/{REPO}:v1"])[0] == 0
            before = snapshot(store) if os.path.exists(store) else {}
            registry.routes = table
            status, stderr = _main(["pull", "-q", f"{registry.host}/{REPO}:v1"])
        finally:
            if saved is None:
                del os.environ["BOXTRACE_STORE"]
            else:
                os.environ["BOXTRACE_STORE"] = saved
        assert_store_clean(store, status, before)
        return status, stderr


def _main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue()
