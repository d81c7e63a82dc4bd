"""`boxtrace pull` from a registry that wants tokens and sends blobs elsewhere, like Docker Hub.

The registry is Debian's docker-registry with ``auth: token``: it verifies the JWTs itself
against the test certificate that the in-test token server signs with. Its ``redirect`` storage
middleware sends every blob download to another host (``localhost`` instead of ``127.0.0.1``),
a small file server over the registry's storage that plays the CDN. That server can also hold a
download half-way, so a pull can be interrupted (Ctrl-C, SIGINT) at a known moment.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime.images.store import Store
from tests.conftest import REPO
from tests.runtime.registry_server import (
    BlobServer,
    RegistryServer,
    TokenServer,
    needs_openssl,
    needs_registry,
)
from tests.runtime.test_images import BASE, UPPER, busybox_entries, layer_tar, oci_layout, run_cli

pytestmark = [needs_registry, needs_openssl]


class Secure:
    def __init__(self, registry: RegistryServer, tokens: TokenServer, cdn: BlobServer) -> None:
        self.registry, self.tokens, self.cdn = registry, tokens, cdn


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    workdir = tmp_path_factory.mktemp("secure-registry")
    with TokenServer(workdir) as tokens, BlobServer(workdir / "storage") as cdn:
        registry = RegistryServer(workdir, auth=tokens.registry_auth(), redirect=cdn.base_url).start()
        try:
            yield Secure(registry, tokens, cdn)
        finally:
            registry.stop()


def digest_of(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def test_anonymous_token_and_redirected_blobs(secure: Secure, tmp_path: Path) -> None:
    base, upper = layer_tar(BASE), layer_tar(UPPER)
    ref = secure.registry.push(
        oci_layout(tmp_path / "layout", [base, upper], Cmd=["sh"]), "latest", "secure/app:v1"
    )
    secure.tokens.issued.clear()
    secure.cdn.seen.clear()
    store = tmp_path / "store"
    result = run_cli("pull", ref, env={"BOXTRACE_STORE": str(store)})
    assert result.returncode == 0, result.stderr
    assert f"Status: Downloaded newer image for {ref}" in result.stdout
    # one token, for this repository, asked for with the registry's service name, used for every request
    assert secure.tokens.issued == [
        {"scope": ["repository:secure/app:pull"], "service": [TokenServer.SERVICE]}
    ]
    host = secure.registry.host
    manifest = secure.registry.requests(r'"GET /v2/secure/app/manifests/v1 HTTP/1.1" .*boxtrace/', 2)
    assert [line.split('"')[2].split()[0] for line in manifest] == ["401", "200"]
    blobs = secure.registry.requests(r'"GET /v2/secure/app/blobs/sha256:\w+ HTTP/1.1" 307 .*boxtrace/', 3)
    assert len(blobs) == 3  # config and two layers: all redirected
    # the CDN served them, and never saw the registry's token
    served = {path.rsplit("/", 2)[1] for path, _ in secure.cdn.seen}
    assert {digest_of(base[0])[7:], digest_of(upper[0])[7:]} <= served
    assert [auth for _, auth in secure.cdn.seen] == [None] * len(secure.cdn.seen)
    record = Store(str(store)).find_by_name(ref)
    assert record is not None and record["layers"] == [base[1], upper[1]], host


def test_repository_the_token_does_not_cover(secure: Secure, tmp_path: Path) -> None:
    """The token server gives no access to private/*: the registry refuses the token it got."""
    ref = f"{secure.registry.host}/private/app:v1"
    result = run_cli("pull", ref, env={"BOXTRACE_STORE": str(tmp_path / "store")})
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"boxtrace pull: error: registry {secure.registry.host} refused access to 'private/app'"
    )
    assert "needs a login" in result.stderr and result.stderr.count("\n") == 1


def test_interrupted_pull_leaves_nothing_half_written(secure: Secure, tmp_path: Path) -> None:
    busybox = layer_tar(busybox_entries())
    assert len(busybox[0]) > 128 << 10  # more than the CDN sends before holding
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE), busybox], Cmd=["sh"])
    ref = secure.registry.push(layout, "latest", "secure/big:v1")
    store = tmp_path / "store"
    secure.cdn.hold = digest_of(busybox[0])
    secure.cdn.holding.clear()
    secure.cdn.release.clear()
    process = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "pull", ref],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "BOXTRACE_STORE": str(store)},
    )
    try:
        assert secure.cdn.holding.wait(60), "the pull never reached the big layer"
        partial = [p for p in (store / "tmp").iterdir()]
        assert len(partial) == 1 and partial[0].name.startswith("pull-")  # the download in progress
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, err = process.communicate(timeout=60)
    finally:
        secure.cdn.release.set()
        secure.cdn.hold = None
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    kept = Store(str(store))
    assert kept.records() == []  # no image: it was not complete
    assert not kept.has_layer(busybox[1]) and not list((store / "tmp").iterdir())
    layers = [p for p in (store / "layers").iterdir() if p.is_dir()]
    assert [p.name for p in layers] == [layer_tar(BASE)[1][7:]]  # the complete layer before it stays
    # the next pull fetches only what is missing
    again = run_cli("pull", ref, env={"BOXTRACE_STORE": str(store)})
    assert again.returncode == 0, again.stderr
    assert f"{digest_of(layer_tar(BASE)[0])[7:19]}: Already exists" in again.stdout
