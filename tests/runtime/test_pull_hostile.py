"""`boxtrace pull` against a registry that misbehaves (tests/runtime/fake_registry.py, on 127.0.0.1):
the cases tests/fuzz/test_fuzz_registry.py found, each a one-line error with exit status 1 and nothing
left half-written in the store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.runtime.fake_registry import CONFIG, FakeRegistry, image, pull, routes


@pytest.fixture(scope="module")
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.close()


def _fails(registry: FakeRegistry, blobs: dict[str, bytes], *, with_index: bool = False, target: str = "tag",
           fault: tuple[str, Any] = ("none", 0)) -> str:  # fmt: skip
    status, stderr = pull(registry, routes(registry.host, blobs, with_index, target, fault))
    assert status == 1, stderr
    assert stderr.startswith("boxtrace pull: error: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_an_index_whose_platform_is_not_an_object(registry: FakeRegistry) -> None:
    def edit(index: dict[str, Any]) -> dict[str, Any]:
        index["manifests"][0]["platform"] = True
        return index

    assert "has no image for this host's platform" in _fails(
        registry, image(edit_index=edit, with_index=True), with_index=True
    )


def test_an_index_whose_manifests_is_not_an_array(registry: FakeRegistry) -> None:
    blobs = image(edit_index=lambda index: {**index, "manifests": 5}, with_index=True)
    assert "manifests is not a JSON array (int)" in _fails(registry, blobs, with_index=True)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("config", [1], "config is not a JSON object (list)"),
        ("layers", 5, "layers is not a JSON array (int)"),
        ("layers", ["x"], "layer is not a JSON object (str)"),
    ],
)
def test_a_manifest_with_the_wrong_json_types(
    registry: FakeRegistry, field: str, value: Any, says: str
) -> None:
    assert says in _fails(registry, image(edit_manifest=lambda manifest: {**manifest, field: value}))


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ([], "is not a JSON object (list)"),
        ({**CONFIG, "rootfs": [1]}, "rootfs is not a JSON object (list)"),
        ({**CONFIG, "rootfs": {"diff_ids": 7}}, "rootfs.diff_ids is not a JSON array (int)"),
        ({**CONFIG, "rootfs": {"diff_ids": [5, None]}}, "diff_id 5 is not a sha256 digest"),
    ],
)
def test_a_config_with_the_wrong_json_types(registry: FakeRegistry, config: Any, says: str) -> None:
    assert says in _fails(registry, image(config))


def test_a_redirect_to_a_malformed_url(registry: FakeRegistry) -> None:
    stderr = _fails(registry, image(), target="layer0", fault=("redirect", "http://[::1"))
    assert "redirected to 'http://[::1', not a URL" in stderr


def test_a_manifest_download_cut_by_a_reset(registry: FakeRegistry) -> None:
    stderr = _fails(registry, image(), fault=("reset", 3))
    assert "manifest fuzz/app:v1: the download broke off: " in stderr


def test_an_endless_manifest_is_cut_at_the_limit(registry: FakeRegistry) -> None:
    assert "larger than 4194304 bytes, refused" in _fails(registry, image(), fault=("endless", 0))


def test_an_endless_layer_is_cut_at_its_size(registry: FakeRegistry) -> None:
    stderr = _fails(registry, image(), target="layer1", fault=("endless", 0))
    assert "bytes, the manifest says" in stderr and "corrupted or truncated" in stderr


def test_a_registry_message_with_newlines_and_escapes(registry: FakeRegistry) -> None:
    stderr = _fails(registry, image(), target="config", fault=("status", (500, "two\nlines \x1b[31mred")))
    assert "two\\x0alines \\x1b[31mred" in stderr
