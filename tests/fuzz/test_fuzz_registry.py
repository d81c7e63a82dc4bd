"""Fuzzing `boxtrace pull` with a hostile registry: a small HTTP server on 127.0.0.1 (this test's own,
answering from a table of routes) serves an image whose index, manifest and config are mutated JSON
(the digests that name them kept consistent, so the mutation reaches the parser), and one of its
answers is spoilt at the HTTP level: an error status, a redirect loop or a redirect elsewhere, a
wrong content type or Docker-Content-Digest, a Content-Length shorter or longer than the body, a body
longer than the descriptor's size, a body that never ends, a token service answering nonsense.

Every pull ends with exit status 0 or 1 and one line on stderr, never a traceback, and the store
(BOXTRACE_STORE, a temp dir per example) holds nothing half-written afterwards: no download or
unpacking left in tmp/, no image record after a failure, and only complete layers (the unpacked tree
and its metadata) of the image's real layers.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxtrace.runtime.images.platform import host_platform
from tests.fuzz.cli_helpers import assert_clean, run_cli
from tests.fuzz.json_mutations import mutated
from tests.runtime.test_images import BASE, UPPER, layer_tar

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
ENDLESS_CAP = 64 << 20  # the server gives up on an endless body after this much (the client must stop first)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Answer:
    """What the server sends for one path."""

    __slots__ = ("status", "headers", "body", "length", "endless", "reset")

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
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                except OSError:
                    pass  # the client stopped reading: what it should do with an endless body

        return Handler


@pytest.fixture(scope="module")
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.close()


# --- the image, mutated ---------------------------------------------------------------------------

FAULTS = st.one_of(
    st.tuples(st.just("status"), st.sampled_from([400, 401, 403, 404, 405, 429, 500, 502, 503])),
    st.tuples(st.just("redirect"), st.sampled_from(["loop", "", "ftp://x/y", "file:///etc/passwd", "//127.0.0.1:1/x", "http://[::1"])),
    st.tuples(st.just("content-type"), st.sampled_from(["text/html", "", "application/json", INDEX_TYPE, MANIFEST_TYPE, "application/vnd.docker.distribution.manifest.v1+json"])),
    st.tuples(st.just("digest-header"), st.sampled_from(["sha256:" + "0" * 64, "md5:abc", "", "sha256:xyz"])),
    st.tuples(st.just("short-length"), st.integers(1, 100)),
    st.tuples(st.just("long-length"), st.integers(1, 100)),
    st.tuples(st.just("no-length"), st.just(0)),
    st.tuples(st.just("extra"), st.integers(1, 1000)),
    st.tuples(st.just("truncate"), st.integers(0, 100)),
    st.tuples(st.just("endless"), st.just(0)),
    st.tuples(st.just("reset"), st.integers(0, 100)),
    st.tuples(st.just("garbage"), st.binary(max_size=64)),
    st.tuples(st.just("token"), st.sampled_from([b"", b"{}", b"[]", b'{"token": 5}', b"not json", b'{"token": "t"}'])),
    st.tuples(st.just("none"), st.just(0)),
)  # fmt: skip
TARGETS = st.sampled_from(["tag", "manifest", "config", "layer0", "layer1"])


@st.composite
def scenario(draw: st.DrawFn) -> tuple[dict[str, bytes], bool, str, tuple[str, Any]]:
    """({"tag"|"manifest"|"config"|"layer0"|"layer1": bytes}, tag names an index, target, fault)."""
    config = CONFIG if draw(st.booleans()) else draw(mutated(CONFIG, 3))
    config_bytes = json.dumps(config).encode()
    manifest: Any = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _digest(b), "size": len(b)}
            for b, _ in LAYERS
        ],
    }
    if draw(st.booleans()):
        manifest = draw(mutated(manifest, 3))
    manifest_bytes = json.dumps(manifest).encode()
    index: Any = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": _digest(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": dict(PLATFORM),
            }
        ],
    }
    if draw(st.booleans()):
        index = draw(mutated(index, 3))
    with_index = draw(st.booleans())
    blobs = {
        "tag": json.dumps(index).encode() if with_index else manifest_bytes,
        "manifest": manifest_bytes,
        "config": config_bytes,
        "layer0": LAYERS[0][0],
        "layer1": LAYERS[1][0],
    }
    return blobs, with_index, draw(TARGETS), draw(FAULTS)


def _routes(host: str, blobs: dict[str, bytes], with_index: bool, target: str, fault: tuple[str, Any]) -> dict[str, Answer]:
    paths = {
        "tag": f"/v2/{REPO}/manifests/v1",
        "manifest": f"/v2/{REPO}/manifests/{_digest(blobs['manifest'])}",
        "config": f"/v2/{REPO}/blobs/{_digest(blobs['config'])}",
        "layer0": f"/v2/{REPO}/blobs/{_digest(blobs['layer0'])}",
        "layer1": f"/v2/{REPO}/blobs/{_digest(blobs['layer1'])}",
    }
    types = {"tag": INDEX_TYPE if with_index else MANIFEST_TYPE, "manifest": MANIFEST_TYPE}
    routes = {
        paths[name]: Answer(data, headers={"Content-Type": types.get(name, "application/octet-stream")})
        for name, data in blobs.items()
    }
    answer = routes[paths[target]]
    kind, value = fault
    if kind == "status":
        routes[paths[target]] = Answer(b'{"errors": [{"code": "DENIED", "message": "no"}]}', value)
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
            b"", 401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="fuzz",scope="repository:{REPO}:pull"'}
        )
        routes["/token"] = Answer(value, headers={"Content-Type": "application/json"})
    return routes


def _store_files(root: str) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def _assert_store_clean(root: str, status: int) -> None:
    """Only complete layers of the real image; an image record only after a successful pull."""
    if not os.path.exists(root):
        return
    tmp = os.path.join(root, "tmp")
    assert not os.path.exists(tmp) or not os.listdir(tmp), _store_files(root)
    images = os.path.join(root, "images")
    if status != 0:
        assert not os.path.exists(images) or not os.listdir(images), _store_files(root)
    layers = os.path.join(root, "layers")
    if os.path.isdir(layers):
        names = os.listdir(layers)
        for name in names:
            stem = name.removesuffix(".json")
            assert stem in DIFF_IDS, name  # a layer that is not the verified one of the image
            assert stem in names and stem + ".json" in names, names  # tree and metadata, both
    assert set(os.listdir(root)) <= {"tmp", "layers", "images"}, os.listdir(root)


def _pull(registry: FakeRegistry, routes: dict[str, Answer]) -> int:
    registry.routes = routes
    with tempfile.TemporaryDirectory(prefix="fuzz-store-") as tmp:
        store = os.path.join(tmp, "store")
        before = os.environ.get("BOXTRACE_STORE")
        os.environ["BOXTRACE_STORE"] = store
        try:
            status, stderr = run_cli(["pull", "-q", f"{registry.host}/{REPO}:v1"])
        finally:
            if before is None:
                del os.environ["BOXTRACE_STORE"]
            else:
                os.environ["BOXTRACE_STORE"] = before
        assert_clean(status, stderr, allowed=(0, 1))
        _assert_store_clean(store, status)
        return status


@given(scenario())
def test_pull_from_a_hostile_registry(registry: FakeRegistry, case: tuple[dict[str, bytes], bool, str, tuple[str, Any]]) -> None:
    blobs, with_index, target, fault = case
    _pull(registry, _routes(registry.host, blobs, with_index, target, fault))


def _good() -> dict[str, bytes]:
    config = json.dumps(CONFIG).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _digest(b), "size": len(b)} for b, _ in LAYERS],
    }  # fmt: skip
    data = json.dumps(manifest).encode()
    return {"tag": data, "manifest": data, "config": config, "layer0": LAYERS[0][0], "layer1": LAYERS[1][0]}


def test_an_untouched_image_pulls(registry: FakeRegistry) -> None:
    """The fake registry serves a pullable image: the faults above are what makes pulls fail."""
    assert _pull(registry, _routes(registry.host, _good(), False, "tag", ("none", 0))) == 0
