"""`boxtrace pull` without a registry: references parsed like Docker parses them, bad ones refused
in one line (exit 2), the host's platform picked from an index, WWW-Authenticate challenges."""

from __future__ import annotations

import pytest

from boxtrace.runtime.images.platform import pick
from boxtrace.runtime.images.reference import BadReference, parse_reference
from boxtrace.runtime.images.registry import Registry, parse_challenges, uses_plain_http
from tests.runtime.test_images import run_cli

HEX = "0123456789abcdef" * 4

# text -> (domain, path, tag, digest, name in the store, API host)
GOOD = {
    "busybox": ("docker.io", "library/busybox", "latest", None, "busybox:latest", "registry-1.docker.io"),
    "library/busybox:1.36": (
        "docker.io",
        "library/busybox",
        "1.36",
        None,
        "busybox:1.36",
        "registry-1.docker.io",
    ),
    "docker.io/busybox": (
        "docker.io",
        "library/busybox",
        "latest",
        None,
        "busybox:latest",
        "registry-1.docker.io",
    ),
    "index.docker.io/library/busybox:1": (
        "docker.io",
        "library/busybox",
        "1",
        None,
        "busybox:1",
        "registry-1.docker.io",
    ),
    "user/app": ("docker.io", "user/app", "latest", None, "user/app:latest", "registry-1.docker.io"),
    "localhost:5000/x/y:tag": (
        "localhost:5000",
        "x/y",
        "tag",
        None,
        "localhost:5000/x/y:tag",
        "localhost:5000",
    ),
    "localhost/x": ("localhost", "x", "latest", None, "localhost/x:latest", "localhost"),
    f"ghcr.io/x@sha256:{HEX}": ("ghcr.io", "x", None, f"sha256:{HEX}", f"ghcr.io/x@sha256:{HEX}", "ghcr.io"),
    f"host.lan/x/y:v1@sha256:{HEX}": (
        "host.lan",
        "x/y",
        None,
        f"sha256:{HEX}",
        f"host.lan/x/y@sha256:{HEX}",
        "host.lan",
    ),
    "[::1]:5000/a-b/c__d.e:V_1.0-rc": (
        "[::1]:5000",
        "a-b/c__d.e",
        "V_1.0-rc",
        None,
        "[::1]:5000/a-b/c__d.e:V_1.0-rc",
        "[::1]:5000",
    ),
    "Registry/x": ("Registry", "x", "latest", None, "Registry/x:latest", "Registry"),  # upper case: a host
}


@pytest.mark.parametrize("text", sorted(GOOD))
def test_references_parse_like_docker(text: str) -> None:
    ref = parse_reference(text)
    domain, path, tag, digest, name, api = GOOD[text]
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.name == name and ref.api_host == api
    assert parse_reference(name).name == name  # the stored name is a reference to the same image


BAD = {
    "": "empty image reference",
    "library/BusyBox": "'library/BusyBox' must be lower-case",
    "busybox:": "invalid tag ''",
    "busybox:-x": "invalid tag '-x'",
    "busybox@sha256:1234": "invalid digest 'sha256:1234'",
    f"busybox@md5:{HEX}": "invalid digest",
    "busy box": "invalid reference format 'busy box'",
    "http://registry.lan/x": "invalid reference format",
    "a//b": "invalid reference format",
    "-x": "invalid reference format",
    HEX: "looks like an image id",
}


@pytest.mark.parametrize("text", sorted(BAD))
def test_bad_references_raise(text: str) -> None:
    with pytest.raises(BadReference, match=BAD[text].replace("(", r"\(")):
        parse_reference(text)


@pytest.mark.parametrize("text", ["library/BusyBox", "busybox:", "busybox@sha256:1234", ""])
def test_bad_reference_is_a_one_line_usage_error(text: str) -> None:
    result = run_cli("pull", text)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("boxtrace pull: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


INDEX = [
    {"digest": "amd64", "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "arm-v6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
    {"digest": "arm-v7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"digest": "arm64", "platform": {"os": "linux", "architecture": "arm64"}},
    {"digest": "windows", "platform": {"os": "windows", "architecture": "amd64"}},
    {"digest": "attestation", "platform": {"os": "unknown", "architecture": "unknown"}},
]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (("linux", "amd64", ""), "amd64"),
        (("linux", "arm64", "v8"), "arm64"),  # no variant in the index: v8 is arm64's default
        (("linux", "arm", "v7"), "arm-v7"),  # its own variant first
        (("linux", "arm", "v6"), "arm-v6"),  # not v7: a v6 CPU cannot run it
        (("linux", "s390x", ""), None),
    ],
)
def test_platform_pick(host: tuple[str, str, str], expected: str | None) -> None:
    chosen = pick(INDEX, host)
    assert (chosen["digest"] if chosen else None) == expected
    assert pick(INDEX[1:2], ("linux", "arm", "v7"))["digest"] == "arm-v6"  # type: ignore[index]


def test_challenges_are_parsed() -> None:
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'
    assert parse_challenges([header]) == {
        "bearer": {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:library/busybox:pull",
        }
    }
    both = parse_challenges(['Basic realm="x y", Bearer realm="http://a/t",error="insufficient_scope"'])
    assert both == {
        "basic": {"realm": "x y"},
        "bearer": {"realm": "http://a/t", "error": "insufficient_scope"},
    }
    assert parse_challenges(['Bearer realm="say \\"hi\\""']) == {"bearer": {"realm": 'say "hi"'}}


def test_https_unless_loopback_or_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOXTRACE_INSECURE_REGISTRIES", raising=False)
    assert Registry("registry-1.docker.io").url("/v2/") == "https://registry-1.docker.io/v2/"
    for host in ("localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "localhost"):
        assert uses_plain_http(host), host
    assert not uses_plain_http("registry.lan:5000")
    assert uses_plain_http("registry.lan:5000", insecure=True)
    monkeypatch.setenv("BOXTRACE_INSECURE_REGISTRIES", "other.lan, registry.lan:5000")
    assert uses_plain_http("registry.lan:5000") and uses_plain_http("other.lan:443")
    assert not uses_plain_http("registry.lan:6000")
