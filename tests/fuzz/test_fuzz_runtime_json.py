"""Fuzzing what the runtime reads as JSON: config.json (load_bundle_spec), exec's --process file,
seccomp profiles (read, then compiled to BPF), and OCI image layouts (index, manifest, config).
Any input gives a result or the runtime's one-line usage error, never another exception."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.oci_exec import read_process_file
from boxtrace.runtime.seccomp_profile import compile_profile
from boxtrace.runtime.spec import load_bundle_spec, read_seccomp_file
from boxtrace.runtime.spec_template import runc_spec
from tests.fuzz.json_mutations import mutated
from tests.fuzz.trace_inputs import JSON_VALUES

CLEAN = (RuntimeUsageError, ContainerError)
SECCOMP = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        },
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0}]},
    ],
}  # fmt: skip
CONFIG = runc_spec()
CONFIG["linux"]["seccomp"] = SECCOMP  # type: ignore[index]


def _one_line(exc: BaseException) -> None:
    assert str(exc) and "\n" not in str(exc), repr(exc)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)


def _as_text(value: Any) -> str:
    return json.dumps(value, indent=1, allow_nan=True)


@given(st.one_of(mutated(CONFIG, 4), JSON_VALUES).map(_as_text) | st.text(max_size=200))
@example(
    _as_text(
        {
            **CONFIG,
            "process": {
                **CONFIG["process"],
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10**30, "soft": 1}],
            },
        }
    )
)  # type: ignore[dict-item]
@example("[" * 20_000)
def test_config_json(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as bundle:
        os.mkdir(os.path.join(bundle, "rootfs"))
        _write_text(os.path.join(bundle, "config.json"), text)
        try:
            spec = load_bundle_spec(bundle)
        except CLEAN as exc:
            _one_line(exc)
            return
        if spec.seccomp is not None:
            try:
                compile_profile(spec.seccomp)
            except CLEAN as exc:
                _one_line(exc)


@given(st.one_of(mutated(CONFIG["process"], 4), JSON_VALUES).map(_as_text))
def test_exec_process_json(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = os.path.join(tmp, "process.json")
        _write_text(path, text)
        try:
            read_process_file(path, warn=lambda message: None)
        except CLEAN as exc:
            _one_line(exc)


@given(st.one_of(mutated(SECCOMP, 4), JSON_VALUES).map(_as_text))
@example(
    _as_text(
        {
            **SECCOMP,
            "syscalls": [
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}],
                }
            ],
        }
    )
)
@example(_as_text({**SECCOMP, "defaultErrnoRet": 2**40}))
def test_seccomp_profile(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = os.path.join(tmp, "seccomp.json")
        _write_text(path, text)
        try:
            compile_profile(read_seccomp_file(path))
        except CLEAN as exc:
            _one_line(exc)


# --- OCI image layouts ---------------------------------------------------------------------------------


def _blob(root: str, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar"
IMAGE_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/", "User": "0"},
    "rootfs": {"type": "layers", "diff_ids": []},
}
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "CONFIG", "size": 0},
    "layers": [],
}
INDEX = {
    "schemaVersion": 2,
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "MANIFEST",
            "size": 0,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
            "platform": {"os": "linux", "architecture": "amd64"},
        }
    ],
}
PART = st.sampled_from(["index", "manifest", "config"])


def _layout(root: str, part: str, document: Any) -> None:
    """An OCI layout whose ``part`` is ``document`` (the others valid and pointing at it)."""
    config = document if part == "config" else IMAGE_CONFIG
    config_blob = _blob(root, _as_text(config).encode("utf-8", "surrogatepass"))
    manifest = (
        document if part == "manifest" else dict(MANIFEST, config={**MANIFEST["config"], **config_blob})
    )
    manifest_blob = _blob(root, _as_text(manifest).encode("utf-8", "surrogatepass"))
    index = (
        document if part == "index" else {**INDEX, "manifests": [{**INDEX["manifests"][0], **manifest_blob}]}
    )
    _write_text(os.path.join(root, "index.json"), _as_text(index))
    _write_text(os.path.join(root, "oci-layout"), '{"imageLayoutVersion": "1.0.0"}')


@st.composite
def layout_part(draw: st.DrawFn) -> tuple[str, Any]:
    part = draw(PART)
    base = {"index": INDEX, "manifest": MANIFEST, "config": IMAGE_CONFIG}[part]
    return part, draw(st.one_of(mutated(base, 3), JSON_VALUES))


@given(layout_part(), st.sampled_from([None, "latest", "other"]))
@example(("index", {"manifests": [5]}), None)
@example(("index", {"manifests": {"a": 1}}), None)
@example(("manifest", {**MANIFEST, "config": []}), None)
@example(("manifest", {"manifests": [{"platform": 3}]}), None)
@example(("config", {**IMAGE_CONFIG, "config": {"Env": "x", "Cmd": 5}}), None)
def test_oci_layout(case: tuple[str, Any], tag: str | None) -> None:
    from boxtrace.runtime.images.sources import import_oci_layout
    from boxtrace.runtime.images.store import Store

    part, document = case
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        layout = os.path.join(tmp, "layout")
        _layout(layout, part, document)
        store = Store(os.path.join(tmp, "store"))
        try:
            import_oci_layout(layout, tag, store, key=layout)
        except CLEAN as exc:
            _one_line(exc)
        # Nothing half-made in the store: no work directory left in its tmp.
        leftovers = (
            os.listdir(os.path.join(tmp, "store", "tmp"))
            if os.path.isdir(os.path.join(tmp, "store", "tmp"))
            else []
        )
        assert leftovers == []
