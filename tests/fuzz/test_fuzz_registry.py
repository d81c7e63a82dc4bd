"""Fuzzing `boxtrace pull` with a hostile registry: a small HTTP server on 127.0.0.1 (this test's own,
answering from a table of routes) serves an image whose index, manifest and config are mutated JSON
(the digests that name them kept consistent, so the mutation reaches the parser), and one of its
answers is spoilt at the HTTP level: an error status, a redirect loop or a redirect elsewhere, a
wrong content type or Docker-Content-Digest, a Content-Length shorter or longer than the body, a body
longer than the descriptor's size, a body that never ends, a token service answering nonsense.

Every pull ends with exit status 0 or 1 and one line on stderr, never a traceback. The store
(BOXTRACE_STORE, a temp dir per example, empty or holding the unspoilt image pulled before) is
compared before and after: a failed pull changed or removed nothing, left nothing in tmp/, and added
only complete layers (the unpacked tree and its metadata) of the image's real layers. The client's
bounds are what stop an endless body: a manifest at 4 MiB, a blob one byte past its descriptor's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.cli_helpers import assert_clean
from tests.fuzz.json_mutations import mutated
from tests.runtime.fake_registry import (
    CONFIG,
    INDEX_TYPE,
    MANIFEST_TYPE,
    FakeRegistry,
    image,
    pull,
    routes,
)


@pytest.fixture(scope="module")
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.close()


# --- the image, mutated ---------------------------------------------------------------------------

LOCATIONS = ["loop", "", "ftp://x/y", "file:///etc/passwd", "//127.0.0.1:1/x", "http://[::1"]
CONTENT_TYPES = [
    *("text/html", "", "application/json", INDEX_TYPE, MANIFEST_TYPE),
    "application/vnd.docker.distribution.manifest.v1+json",
]
TOKEN_ANSWERS = [b"", b"{}", b"[]", b'{"token": 5}', b"not json", b'{"token": "t"}']
FAULTS = st.one_of(
    st.tuples(st.just("status"), st.sampled_from([400, 401, 403, 404, 405, 429, 500, 502, 503])),
    st.tuples(st.just("status"), st.tuples(st.sampled_from([400, 404, 500]), st.text(max_size=20))),
    st.tuples(st.just("redirect"), st.sampled_from(LOCATIONS)),
    st.tuples(st.just("content-type"), st.sampled_from(CONTENT_TYPES)),
    st.tuples(st.just("digest-header"), st.sampled_from(["sha256:" + "0" * 64, "md5:abc", "", "sha256:xyz"])),
    st.tuples(st.just("short-length"), st.integers(1, 100)),
    st.tuples(st.just("long-length"), st.integers(1, 100)),
    st.tuples(st.just("no-length"), st.just(0)),
    st.tuples(st.just("extra"), st.integers(1, 1000)),
    st.tuples(st.just("truncate"), st.integers(0, 100)),
    st.tuples(st.just("endless"), st.just(0)),
    st.tuples(st.just("reset"), st.integers(0, 100)),
    st.tuples(st.just("garbage"), st.binary(max_size=64)),
    st.tuples(st.just("token"), st.sampled_from(TOKEN_ANSWERS)),
    st.tuples(st.just("none"), st.just(0)),
)  # fmt: skip
TARGETS = st.sampled_from(["tag", "manifest", "config", "layer0", "layer1"])


# (the blobs, whether the tag names an index, which answer is spoilt, how, whether the store holds
# the unspoilt image already)
Case = tuple[dict[str, bytes], bool, str, tuple[str, Any], bool]


@st.composite
def scenario(draw: st.DrawFn) -> Case:
    with_index = draw(st.booleans())
    blobs = image(
        CONFIG if draw(st.booleans()) else draw(mutated(CONFIG, 3)),
        (lambda doc: draw(mutated(doc, 3))) if draw(st.booleans()) else None,
        (lambda doc: draw(mutated(doc, 3))) if draw(st.booleans()) else None,
        with_index,
    )
    return blobs, with_index, draw(TARGETS), draw(FAULTS), draw(st.booleans())


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    parent: Any = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


NONE = ("none", 0)
PLATFORM_AT = ("manifests", 0, "platform")
# What the fuzzer found (each is also a plain test in tests/runtime/test_pull_hostile.py).
FOUND: list[Case] = [
    (image(edit_index=lambda i: _set(i, PLATFORM_AT, 1), with_index=True), True, "tag", NONE, False),
    (image(edit_manifest=lambda d: _set(d, ("config",), [1])), False, "tag", NONE, False),
    (image(edit_manifest=lambda d: _set(d, ("layers", 1), "x")), False, "tag", NONE, False),
    (image(edit_manifest=lambda d: _set(d, ("layers",), 5)), False, "tag", NONE, False),
    (image(edit_index=lambda d: _set(d, ("manifests",), 5), with_index=True), True, "tag", NONE, False),
    (image([]), False, "tag", NONE, False),
    (image({**CONFIG, "rootfs": {"diff_ids": 7}}), False, "tag", NONE, False),
    (image({**CONFIG, "rootfs": {"diff_ids": [5, None]}}), False, "tag", NONE, False),
    (image(), False, "layer0", ("redirect", "http://[::1"), False),
    (image(), False, "tag", ("reset", 3), True),
    (image(), False, "config", ("status", (500, "two\nlines \x1b[31m")), False),
]  # fmt: skip


@given(scenario())
@example(FOUND[0])
@example(FOUND[1])
@example(FOUND[2])
@example(FOUND[3])
@example(FOUND[4])
@example(FOUND[5])
@example(FOUND[6])
@example(FOUND[7])
@example(FOUND[8])
@example(FOUND[9])
@example(FOUND[10])
def test_pull_from_a_hostile_registry(registry: FakeRegistry, case: Case) -> None:
    blobs, with_index, target, fault, prefill = case
    status, stderr = pull(registry, routes(registry.host, blobs, with_index, target, fault), prefill)
    assert_clean(status, stderr, allowed=(0, 1))


def test_an_untouched_image_pulls(registry: FakeRegistry) -> None:
    """The fake registry serves a pullable image: the faults above are what makes pulls fail."""
    assert pull(registry, routes(registry.host, image(), False, "tag", ("none", 0))) == (0, "")
