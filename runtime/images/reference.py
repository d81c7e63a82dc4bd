"""Image references as Docker parses them: ``busybox``, ``library/busybox:1.36``,
``localhost:5000/x/y:tag``, ``host/x@sha256:...``.

The grammar is distribution's (github.com/distribution/reference, regexp.go and normalize.go):
the first path component is a registry when it contains a ``.`` or a ``:``, is ``localhost``, or
has upper-case letters; otherwise the registry is Docker Hub (``docker.io``, served by
``registry-1.docker.io``) and a one-component name gets the ``library/`` prefix of official
images. Names are stored in the image store under their short ("familiar") form, as Docker shows
them: ``busybox:latest``, ``127.0.0.1:5000/demo:v1``.
"""

from __future__ import annotations

import re

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.records import record

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
# Docker Hub's registry API is not served at docker.io itself.
API_HOSTS = {DEFAULT_DOMAIN: "registry-1.docker.io"}
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_IMAGE_ID = re.compile(r"[0-9a-f]{64}")

FORMAT = "[REGISTRY[:PORT]/]NAME[:TAG] or [REGISTRY[:PORT]/]NAME@sha256:DIGEST"


class BadReference(RuntimeUsageError):
    """A malformed image reference: a usage error (exit 2)."""


@record
class Reference:
    domain: str  # as typed, normalised: "docker.io", "localhost:5000", "ghcr.io"
    path: str  # the repository inside the registry: "library/busybox", "x/y"
    tag: str | None  # None when pulled by digest
    digest: str | None

    @property
    def api_host(self) -> str:
        """The host (and port) that serves the registry API."""
        return API_HOSTS.get(self.domain, self.domain)

    @property
    def familiar(self) -> str:
        """The repository as Docker shows it: ``busybox``, ``user/app``, ``127.0.0.1:5000/demo``."""
        if self.domain != DEFAULT_DOMAIN:
            return f"{self.domain}/{self.path}"
        rest = self.path.removeprefix(OFFICIAL_PREFIX)
        return rest if "/" not in rest else self.path

    @property
    def name(self) -> str:
        """The image's name in the store: ``familiar:tag``, or ``familiar@digest`` when pulled by
        digest (the digest pins the content; a tag given next to it is not looked at, as in Docker)."""
        if self.digest is not None:
            return f"{self.familiar}@{self.digest}"
        return f"{self.familiar}:{self.tag}"

    @property
    def manifest_ref(self) -> str:
        """What goes after /manifests/ in the API: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        return f"{self.domain}/{self.path}" + (f"@{self.digest}" if self.digest else f":{self.tag}")


def parse_reference(text: str) -> Reference:
    """Parse ``text`` like `docker pull` does, or raise BadReference naming what is wrong."""
    if not text:
        raise BadReference(f"empty image reference: give {FORMAT}")
    if _IMAGE_ID.fullmatch(text):
        raise BadReference(
            f"{text!r} looks like an image id (64 hex digits), not a name: give {FORMAT} "
            "(an image id names an image already in the store: 'boxtrace images')"
        )
    named, at, digest = text.partition("@")
    if at and not _SHA256.fullmatch(digest):
        raise BadReference(
            f"invalid digest {digest!r} in {text!r}: expected sha256: and 64 lower-case hex digits"
        )
    slash, colon = named.rfind("/"), named.rfind(":")
    tag: str | None = None
    if colon > slash:
        named, tag = named[:colon], named[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise BadReference(
                f"invalid tag {tag!r} in {text!r}: up to 128 letters, digits, '_', '.' and '-', "
                "not starting with '.' or '-'"
            )
    domain, path = _split_domain(named)
    if path.lower() != path:
        raise BadReference(f"invalid reference {text!r}: the repository name {path!r} must be lower-case")
    if not _DOMAIN.fullmatch(domain) or not _PATH.fullmatch(path):
        raise BadReference(f"invalid reference format {text!r}: expected {FORMAT}")
    if len(path) > NAME_MAX:
        raise BadReference(f"invalid reference {text!r}: repository names are at most {NAME_MAX} characters")
    if at:
        tag = None
    elif tag is None:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest if at else None)


def _split_domain(name: str) -> tuple[str, str]:
    """distribution's splitDockerDomain."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == LEGACY_DEFAULT_DOMAIN:
        domain, path = DEFAULT_DOMAIN, rest
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path
