"""`boxtrace pull` against a real registry (Debian's docker-registry on 127.0.0.1, started by the
module fixture), images pushed to it with skopeo from OCI layouts built here: by tag, by digest,
multi-platform indexes (OCI and Docker manifest lists), shared layers fetched once, corrupted blobs,
the errors a user sees, and running a pulled image (root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime.images.platform import host_platform
from boxtrace.runtime.images.registry import Registry, RegistryError
from boxtrace.runtime.images.resolve import resolve
from boxtrace.runtime.images.store import Store
from tests.conftest import REPO, needs_root
from tests.runtime.registry_server import RegistryServer, free_port, multi_platform_layout, needs_registry
from tests.runtime.test_images import BASE, UPPER, busybox_entries, layer_tar, oci_layout, run_cli

pytestmark = needs_registry

HOST = "/".join(p for p in host_platform() if p)  # linux/amd64
OTHERS = [p for p in ("linux/arm64/v8", "linux/s390x", "linux/amd64", "linux/ppc64le") if p != HOST][:2]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def pull(ref: str, store: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run_cli("pull", *options, ref, env={"BOXTRACE_STORE": str(store)})


def blob_digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def tag_digest(registry: RegistryServer, repository: str, tag: str) -> str:
    """The manifest digest a tag points to, as the registry keeps it."""
    link = registry.storage / "docker/registry/v2/repositories" / repository / "_manifests/tags" / tag
    return (link / "current/link").read_text().strip()


def blob_gets(registry: RegistryServer, repositories: str, digest: str, expect: int) -> int:
    """How often boxtrace downloaded a blob from the repositories matching a pattern."""
    pattern = rf'"GET /v2/{repositories}/blobs/{digest} HTTP/1.1" 200 .*boxtrace/'
    return len(registry.requests(pattern, expect))


def assert_nothing_half_written(store: Path) -> None:
    """No download or unpacking left in the store's tmp/."""
    if (store / "tmp").exists():
        assert not list((store / "tmp").iterdir())


def test_pull_by_tag(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    base, upper = layer_tar(BASE), layer_tar(UPPER)
    layout = oci_layout(tmp_path / "layout", [base, upper], tag="v1", Cmd=["sh"])
    ref = registry.push(layout, "v1", "demo/app:v1")
    result = pull(ref, store)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"v1: Pulling from {registry.host}/demo/app (http://{registry.host})"
    for blob, _ in (base, upper):
        assert f"{blob_digest(blob)[7:19]}: Pull complete" in lines
    assert lines[-3:] == [
        f"Digest: {tag_digest(registry, 'demo/app', 'v1')}",
        f"Status: Downloaded newer image for {ref}",
        ref,
    ]
    record = Store(str(store)).find_by_name(ref)
    assert record is not None and record["layers"] == [base[1], upper[1]]
    assert record["repo_digests"] == [f"{registry.host}/demo/app@{tag_digest(registry, 'demo/app', 'v1')}"]
    image = resolve(ref, str(store))
    assert (Path(image.lowers[0]) / "etc/msg").read_text() == "upper\n"
    assert image.config == {"Env": ["PATH=/bin", "GREETING=hello"], "Cmd": ["sh"]}
    assert_nothing_half_written(store)

    listing = run_cli("images", env={"BOXTRACE_STORE": str(store)})
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == [ref]

    again = pull(ref, store)
    assert again.returncode == 0, again.stderr
    assert f"{blob_digest(base[0])[7:19]}: Already exists" in again.stdout
    assert f"Status: Image is up to date for {ref}" in again.stdout
    for blob, _ in (base, upper):
        assert blob_gets(registry, "demo/app", blob_digest(blob), 1) == 1

    removed = run_cli("rmi", ref, env={"BOXTRACE_STORE": str(store)})
    assert removed.returncode == 0 and f"Untagged: {ref}" in removed.stdout
    assert not [p for p in (store / "layers").iterdir()]


def test_pull_by_digest(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE)], tag="v1", Cmd=["sh"])
    registry.push(layout, "v1", "demo/pinned:v1")
    digest = tag_digest(registry, "demo/pinned", "v1")
    ref = f"{registry.host}/demo/pinned@{digest}"
    result = pull(ref, store)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"{digest}: Pulling from {registry.host}/demo/pinned")
    assert result.stdout.splitlines()[-1] == ref
    record = Store(str(store)).find_by_name(ref)
    assert record is not None and record["names"] == [ref]
    assert resolve(ref, str(store)).image_id == record["id"]
    # the same image from another repository: one image, two names, two repo digests
    other = registry.push(layout, "v1", "demo/pinned-too:v1")
    assert pull(other, store).returncode == 0
    both = Store(str(store)).find_by_name(other)
    assert both is not None and both["id"] == record["id"] and both["names"] == sorted([ref, other])
    assert both["repo_digests"] == sorted(
        f"{registry.host}/demo/{r}@{digest}" for r in ("pinned", "pinned-too")
    )

    wrong = f"{registry.host}/demo/pinned@sha256:{'0' * 64}"
    missing = pull(wrong, store)
    assert missing.returncode == 1
    assert f"no manifest sha256:{'0' * 64} for {registry.host}/demo/pinned" in missing.stderr


@pytest.mark.parametrize("form", ["oci", "docker"])
def test_multi_platform_index_pulls_the_host_platform(
    form: str, registry: RegistryServer, tmp_path: Path, store: Path
) -> None:
    layers = multi_platform_layout(tmp_path / "layout", "multi", [OTHERS[0], HOST, OTHERS[1]])
    # --format v2s2 turns the OCI index into a Docker manifest list of Docker v2 schema 2 manifests
    options = ["--all", *(["--format", "v2s2"] if form == "docker" else [])]
    ref = registry.push(tmp_path / "layout", "multi", f"multi/{form}:v1", *options)
    manifest = json.loads((registry.blob_file(tag_digest(registry, f"multi/{form}", "v1"))).read_bytes())
    expected_type = {
        "oci": "application/vnd.oci.image.index.v1+json",
        "docker": "application/vnd.docker.distribution.manifest.list.v2+json",
    }[form]
    assert manifest["mediaType"] == expected_type
    result = pull(ref, store)
    assert result.returncode == 0, result.stderr
    assert f"Digest: {tag_digest(registry, f'multi/{form}', 'v1')}" in result.stdout  # the index's
    image = resolve(ref, str(store))
    assert (Path(image.lowers[0]) / "etc/platform").read_text() == f"{HOST}\n"
    for platform, digest in layers.items():
        expected = 1 if platform == HOST else 0
        assert blob_gets(registry, f"multi/{form}", digest, expected) == expected, platform


def test_index_without_the_host_platform(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    multi_platform_layout(tmp_path / "layout", "multi", OTHERS)
    ref = registry.push(tmp_path / "layout", "multi", "multi/foreign:v1", "--all")
    result = pull(ref, store)
    assert result.returncode == 1
    assert result.stderr == (
        f"boxtrace pull: error: {ref} has no image for this host's platform {HOST} "
        f"(registry {registry.host} offers: {', '.join(sorted(OTHERS))})\n"
    )
    assert Store(str(store)).records() == []


def test_shared_layer_is_fetched_once(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    base = layer_tar(BASE)
    first = registry.push(
        oci_layout(tmp_path / "a", [base, layer_tar([("file", "a", b"a")])]), "latest", "shared/a:v1"
    )
    second = registry.push(
        oci_layout(tmp_path / "b", [base, layer_tar([("file", "b", b"b")])]), "latest", "shared/b:v1"
    )
    assert pull(first, store).returncode == 0
    result = pull(second, store)
    assert result.returncode == 0, result.stderr
    assert f"{blob_digest(base[0])[7:19]}: Already exists" in result.stdout
    assert "Status: Downloaded newer image" in result.stdout
    assert blob_gets(registry, "shared/a", blob_digest(base[0]), 1) == 1
    assert blob_gets(registry, "shared/b", blob_digest(base[0]), 0) == 0
    a, b = resolve(first, str(store)), resolve(second, str(store))
    assert a.lowers[1] == b.lowers[1] and len({*a.lowers, *b.lowers}) == 3


@pytest.mark.parametrize("how", ["flipped", "truncated"])
def test_corrupted_blob_is_reported_by_digest(
    how: str, registry: RegistryServer, tmp_path: Path, store: Path
) -> None:
    good, bad = layer_tar(BASE), layer_tar([*UPPER, ("file", f"etc/{how}", b"x" * 4096)])
    ref = registry.push(oci_layout(tmp_path / "layout", [good, bad]), "latest", f"broken/{how}:v1")
    stored = registry.blob_file(blob_digest(bad[0]))
    data = stored.read_bytes()
    if how == "flipped":
        stored.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        stored.write_bytes(data[: len(data) // 2])
    result = pull(ref, store)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and blob_digest(bad[0]) in result.stderr, result.stderr
    expected = "does not match its digest" if how == "flipped" else f"the manifest says {len(data)}"
    assert expected in result.stderr
    kept = Store(str(store))
    assert kept.records() == [] and not kept.has_layer(bad[1])  # the good layer may stay
    assert_nothing_half_written(store)


def test_errors_name_the_reference_and_the_registry(
    registry: RegistryServer, tmp_path: Path, store: Path
) -> None:
    registry.push(oci_layout(tmp_path / "layout", [layer_tar(BASE)]), "latest", "demo/errs:v1")
    host = registry.host
    unreachable = f"127.0.0.1:{free_port()}"
    cases = {
        f"{host}/demo/errs:v9": f"no tag 'v9' for {host}/demo/errs on registry {host} (tags: v1)",
        f"{host}/no/such": f"unknown image {host}/no/such: registry {host} has no repository 'no/such'",
        f"{unreachable}/x": f"cannot reach registry {unreachable}: connection refused",
    }
    for ref, message in cases.items():
        result = pull(ref, store)
        assert result.returncode == 1, ref
        assert result.stderr.startswith(f"boxtrace pull: error: {message}"), result.stderr
        assert result.stderr.count("\n") == 1
    assert not (store / "images").exists()


def test_https_to_a_plain_http_registry_says_what_to_do(registry: RegistryServer) -> None:
    client = Registry(registry.host)
    client.scheme = "https"  # as for any non-loopback host without --insecure
    with pytest.raises(
        RegistryError, match=f"cannot reach registry {registry.host}: TLS failed .*--insecure"
    ):
        client.manifest("demo/errs", "v1")


@needs_root
def test_pulled_image_runs(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    layout = oci_layout(
        tmp_path / "layout",
        [layer_tar(busybox_entries()), layer_tar(BASE), layer_tar(UPPER)],
        tag="v1",
        Cmd=["sh", "-c", "cat /etc/msg; echo $GREETING; ls /etc/gone 2>&1; true"],
    )
    ref = registry.push(layout, "v1", "demo/runs:v1")
    assert pull(ref, store).returncode == 0
    env = {"BOXTRACE_STORE": str(store)}
    ran = run_cli("run", "--no-trace", ref, env=env)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[:2] == ["upper", "hello"] and "No such file or directory" in lines[2]
    replaced = run_cli("run", "--no-trace", ref, "--", "sh", "-c", "cat /etc/msg; id -u", env=env)
    assert replaced.stdout.splitlines() == ["upper", "0"], replaced.stderr


def test_progress_bar_on_a_terminal(registry: RegistryServer, tmp_path: Path, store: Path) -> None:
    """On a terminal the layers are rich progress bars; the summary lines follow them."""
    if shutil.which("script") is None:
        pytest.skip("needs script (Debian util-linux) for a terminal")
    ref = registry.push(oci_layout(tmp_path / "layout", [layer_tar(BASE)]), "latest", "demo/tty:v1")
    command = shlex.join([sys.executable, "-m", "boxtrace", "pull", ref])
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, "BOXTRACE_STORE": str(store), "COLUMNS": "100", "TERM": "xterm"},
    )
    assert result.returncode == 0, result.stdout
    assert "━" in result.stdout and "\x1b[" in result.stdout  # drawn bars, not plain lines
    assert "Pull complete" in result.stdout and "Pulling fs layer" not in result.stdout
    assert result.stdout.replace("\r", "").splitlines()[-1] == ref
