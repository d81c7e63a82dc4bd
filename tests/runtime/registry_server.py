"""Real registries for the pull tests.

* ``RegistryServer``: Debian's docker-registry (distribution 2.8) on 127.0.0.1 and a free port,
  with its own config file and storage directory, started and stopped by the tests. Images are
  pushed to it with skopeo from OCI layouts the tests build (``multi_platform_layout`` here,
  ``oci_layout`` in test_images.py).
* For token auth: ``TokenServer`` hands out JWTs signed with a test key (openssl) that the registry
  itself verifies (``auth: token`` with the test certificate as its root bundle), and
  ``BlobServer`` plays a CDN: the registry's ``redirect`` storage middleware sends every blob
  download there, as Docker Hub sends them to its CDN. It records the headers it was sent and can
  hold a download half-way (to interrupt a pull at a known moment).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.test_images import layer_tar

REGISTRY = "/usr/bin/docker-registry"
needs_registry = pytest.mark.skipif(
    not (os.access(REGISTRY, os.X_OK) and shutil.which("skopeo")),
    reason="needs a registry and skopeo (Debian packages docker-registry and skopeo)",
)
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (Debian openssl)")
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RegistryServer:
    def __init__(self, workdir: Path, auth: dict[str, Any] | None = None, redirect: str | None = None):
        self.workdir = workdir
        self.storage = workdir / "storage"
        self.log = workdir / "registry.log"
        self.auth = auth
        self.redirect = redirect
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        if self.auth:
            config["auth"] = {"token": self.auth}
        if self.redirect:
            config["middleware"] = {"storage": [{"name": "redirect", "options": {"baseurl": self.redirect}}]}
        return config

    def start(self) -> RegistryServer:
        """Start on a free port (again on another one if that port was taken in between)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            path = self.workdir / "config.yml"
            path.write_text(json.dumps(self.config(), indent=1))  # JSON is YAML
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [REGISTRY, "serve", str(path)], stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_ready():
                return self
            self.stop(remove=False)
        raise RuntimeError(f"docker-registry did not start: {self.log.read_text()[-2000:]}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return True
            except urllib.error.HTTPError as exc:
                exc.close()
                return exc.code == 401  # token auth: the API answers, and asks for a token
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, remove: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if remove:
            shutil.rmtree(self.storage, ignore_errors=True)

    # --- images ---

    def push(self, layout: Path, tag: str, dest: str, *options: str) -> str:
        """skopeo copy oci:LAYOUT:TAG docker://HOST/DEST; returns HOST/DEST."""
        policy = self.workdir / "policy.json"
        policy.write_text(json.dumps(POLICY))
        target = f"{self.host}/{dest}"
        result = subprocess.run(
            [
                "skopeo",
                "--policy",
                str(policy),
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                *options,
                f"oci:{layout}:{tag}",
                f"docker://{target}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return target

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob (distribution's filesystem layout)."""
        hex_digest = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"

    def requests(self, pattern: str, expect: int = 0) -> list[str]:
        """Access-log lines ("GET /v2/... HTTP/1.1" 200 ...) matching ``pattern``. The registry
        logs a request just after answering it: with ``expect``, wait (up to 10 s) for that many
        lines to be there before counting."""
        deadline = time.monotonic() + 10
        while True:
            found = [
                line
                for line in self.log.read_text(errors="replace").splitlines()
                if line.startswith("127.0.0.1 - ") and re.search(pattern, line)
            ]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


# --- token auth -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TokenServer:
    """Docker's token service for anonymous clients: GET /token?service=&scope= -> {"token": JWT}.
    Grants what each scope asks for, except repositories under ``private/`` (nothing)."""

    SERVICE = "boxtrace-test-registry"
    ISSUER = "boxtrace-test-token-issuer"

    def __init__(self, workdir: Path) -> None:
        self.key = workdir / "token-key.pem"
        self.cert = workdir / "token-cert.pem"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-keyout", str(self.key), "-out", str(self.cert), "-subj", f"/CN={self.ISSUER}"),
            ],
            capture_output=True,
            check=True,
        )
        pem = self.cert.read_text()
        self.x5c = "".join(pem.split("-----")[2].split())  # the certificate's DER, base64
        self.issued: list[dict[str, list[str]]] = []  # query of every token request
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def registry_auth(self) -> dict[str, str]:
        return {
            "realm": self.realm,
            "service": self.SERVICE,
            "issuer": self.ISSUER,
            "rootcertbundle": str(self.cert),
        }

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            if kind == "repository" and not name.startswith("private/"):
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.ISSUER,
            "sub": "",
            "aud": self.SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": hashlib.sha256(os.urandom(16)).hexdigest(),
            "access": access,
        }
        signed = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signed.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return f"{signed}.{_b64url(signature)}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                server.issued.append(query)
                if url.path != "/token":
                    self.send_error(404)
                    return
                body = json.dumps({"token": server.token(query.get("scope", [])), "expires_in": 300})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        return Handler

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class BlobServer:
    """The CDN the registry redirects blob downloads to: serves the registry's storage files,
    records (path, Authorization header) of every request, and can hold a download: the blob
    whose digest is in ``hold`` is sent up to its first 64 KiB, then ``holding`` is set and the
    rest waits for ``release``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: list[tuple[str, str | None]] = []
        self.hold: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        # "localhost", not 127.0.0.1: another host than the registry's, as a CDN is
        return f"http://localhost:{self.server.server_address[1]}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(_Quiet):
            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = urllib.parse.urlsplit(self.path).path
                server.seen.append((path, self.headers.get("Authorization")))
                target = (server.root / path.lstrip("/")).resolve()
                if not target.is_relative_to(server.root.resolve()) or not target.is_file():
                    self.send_error(404)
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                with contextlib.suppress(OSError):  # the client may be gone (interrupted)
                    if server.hold and server.hold.removeprefix("sha256:") in path:
                        self.wfile.write(data[: 64 << 10])
                        self.wfile.flush()
                        server.holding.set()
                        server.release.wait(60)
                        data = data[64 << 10 :]
                    self.wfile.write(data)

        return Handler

    def __enter__(self) -> BlobServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --- images -----------------------------------------------------------------------------------------


def write_blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def multi_platform_layout(
    root: Path, tag: str, platforms: list[str], base: tuple[bytes, str] | None = None
) -> dict[str, str]:
    """An OCI layout whose TAG is an image index with one image per platform ("linux/arm64/v8");
    each image's top layer holds /etc/platform naming its platform (over ``base``, a layer all
    share, if given). Returns platform -> the digest of that image's top layer blob."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests, layers = [], {}
    for name in platforms:
        os_name, arch, *variant = name.split("/")
        blob, diff_id = layer_tar([("dir", "etc"), ("file", "etc/platform", f"{name}\n".encode())])
        place = {"os": os_name, "architecture": arch, **({"variant": variant[0]} if variant else {})}
        config = {
            **place,
            "config": {"Cmd": ["cat", "/etc/platform"]},
            "rootfs": {"type": "layers", "diff_ids": [*([base[1]] if base else []), diff_id]},
        }
        layer = write_blob(root, blob)
        layers[name] = str(layer["digest"])
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **write_blob(root, json.dumps(config).encode()),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob}
                for blob in [*([write_blob(root, base[0])] if base else []), layer]
            ],
        }
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **write_blob(root, json.dumps(manifest).encode()),
                "platform": place,
            }
        )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }
    entry = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        **write_blob(root, json.dumps(index).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return layers
