"""A client for the registry HTTP API (distribution API v2 / OCI distribution spec), standard
library only: manifests, blobs, anonymous token auth, redirects.

* HTTPS by default. Plain HTTP for loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``), as
  Docker treats them, and for hosts named by ``--insecure`` or ``$BOXTRACE_INSECURE_REGISTRIES``
  (comma-separated ``HOST[:PORT]``).
* Auth: a 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` makes the client
  GET an anonymous token from the realm and retry with ``Authorization: Bearer TOKEN`` (Docker's
  token flow, https://distribution.github.io/distribution/spec/auth/token/). Basic auth (a login)
  is not supported.
* Redirects (blobs are often served by a CDN) are followed by hand: the token is sent only to the
  registry's own host, never to the host a blob is redirected to.
* Every error is a ``RegistryError``: one line naming the registry and what failed.

Imported only by `boxtrace pull` (``pull.py``): urllib, ssl and json are loaded here, not on the
path of running an image.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any

INSECURE_ENV = "BOXTRACE_INSECURE_REGISTRIES"
TIMEOUT = 60.0  # seconds without a byte from the registry before giving up
REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10
CHUNK = 1 << 20

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
# What we ask for, best first (an index before a single manifest, so the platform is ours to pick).
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
MANIFEST_MAX = 4 << 20  # the OCI distribution spec lets registries refuse larger manifests


class RegistryError(Exception):
    """The registry could not be reached or refused: one line, exit status 1."""


class NotFound(RegistryError):
    """404: ``codes`` are the registry's error codes (MANIFEST_UNKNOWN, NAME_UNKNOWN...)."""

    def __init__(self, message: str, codes: list[str]) -> None:
        super().__init__(message)
        self.codes = codes


class CorruptBlob(RegistryError):
    """The bytes received do not match the digest (or size) they were asked for."""


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    return name == "localhost" or name == "::1" or re.fullmatch(r"127(\.\d{1,3}){3}", name) is not None


def uses_plain_http(host: str, insecure: bool = False) -> bool:
    listed = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    return insecure or is_loopback(host) or host in listed or host.split(":")[0] in listed


def parse_challenges(headers: list[str]) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` values -> {scheme (lower-case): {param: value}} (RFC 7235 auth-params,
    quoted strings with backslash escapes)."""
    found: dict[str, dict[str, str]] = {}
    param = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
    for header in headers:
        rest = header.strip()
        while rest:
            scheme = re.match(r"([A-Za-z][A-Za-z0-9_.-]*)\s*", rest)
            if scheme is None:
                break
            params: dict[str, str] = {}
            rest = rest[scheme.end() :]
            while (match := param.match(rest)) is not None:
                quoted, bare = match.group(2), match.group(3)
                params[match.group(1).lower()] = (
                    re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
                )
                rest = rest[match.end() :]
            found[scheme.group(1).lower()] = params
            rest = rest.lstrip(", ")
    return found


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects come back as HTTPError and are followed in Registry._open (which decides where the
    token may go)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def http_error_302(self, *args: Any, **kwargs: Any) -> None:
        # urllib's own handler parses the Location before asking redirect_request, and a malformed
        # one ("http://[::1") raised ValueError out of opener.open: now it is never parsed here.
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class Registry:
    """One registry host. ``scope`` of a request: the token scope it needs
    (``repository:NAME:pull``)."""

    def __init__(self, host: str, *, insecure: bool = False, user_agent: str = "boxtrace") -> None:
        self.host = host
        self.scheme = "http" if uses_plain_http(host, insecure) else "https"
        self.user_agent = user_agent
        self.tokens: dict[str, str] = {}  # scope -> bearer token
        self.opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    # --- API calls ---

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest or index, checked against the digest asked
        for, or against the registry's Docker-Content-Digest when asked by tag."""
        import hashlib

        scope = f"repository:{repository}:pull"
        with self.open(f"/v2/{repository}/manifests/{reference}", scope, {"Accept": ACCEPT}) as response:
            body = _read_limited(response, MANIFEST_MAX, f"manifest {repository}:{reference}")
            media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
            announced = response.headers.get("Docker-Content-Digest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        expected = reference if reference.startswith("sha256:") else announced
        if expected and expected.startswith("sha256:") and expected != digest:
            raise CorruptBlob(
                f"manifest {expected} of {self.host}/{repository} does not match its digest "
                f"(its content hashes to {digest}): corrupted"
            )
        return body, media_type, digest

    def read_blob(self, repository: str, digest: str, size: int, limit: int = MANIFEST_MAX) -> bytes:
        """A small blob (an image config, a manifest by digest) into memory, verified."""
        import io

        if size > limit:
            raise RegistryError(f"blob {digest} of {self.host}/{repository} is too large ({size} bytes)")
        buffer = io.BytesIO()
        self.fetch_blob(repository, digest, size, buffer)
        return buffer.getvalue()

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        out: IO[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Stream a blob into ``out``, hashing as it comes; CorruptBlob (naming the digest) when
        its size or digest is not what the manifest says. ``progress(bytes so far)`` per chunk."""
        import hashlib

        hasher = hashlib.sha256()
        received = 0
        scope = f"repository:{repository}:pull"
        with self.open(f"/v2/{repository}/blobs/{digest}", scope) as response:
            try:
                # One byte more than expected is enough to know the blob is too long.
                while chunk := response.read1(min(CHUNK, size + 1 - received)):
                    hasher.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received)
                    if received > size:
                        break
            except (OSError, http.client.HTTPException) as exc:  # a reset, IncompleteRead
                raise RegistryError(
                    f"download of blob {digest} from {self.host} broke off after {received} bytes: {exc}"
                ) from None
            promised = response.length  # what Content-Length still owes: a connection cut short
        if received < size and promised:
            raise RegistryError(
                f"download of blob {digest} from {self.host} broke off after {received} of {size} bytes"
            )
        got = "sha256:" + hasher.hexdigest()
        if received != size:
            raise CorruptBlob(
                f"blob {digest} from {self.host}/{repository}: got {received}"
                f"{'+' if received > size else ''} bytes, the manifest says {size}: corrupted or truncated"
            )
        if got != digest:
            raise CorruptBlob(
                f"blob {digest} from {self.host}/{repository} does not match its digest "
                f"(its content hashes to {got}): corrupted"
            )

    def tags(self, repository: str, limit: int = 20) -> list[str]:
        """Up to ``limit`` tags of the repository (for error messages)."""
        scope = f"repository:{repository}:pull"
        with self.open(f"/v2/{repository}/tags/list?n={limit}", scope) as response:
            body = _read_limited(response, MANIFEST_MAX, f"tags of {repository}")
        try:
            tags = json.loads(body).get("tags") or []
        except (ValueError, AttributeError, RecursionError):
            raise RegistryError(f"registry {self.host}: the tag list of {repository} is not JSON") from None
        return [str(t) for t in tags][:limit]

    # --- HTTP with auth and redirects ---

    def open(self, path: str, scope: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """GET ``path`` on the registry, doing the token dance once if the registry asks for it."""
        for attempt in range(2):
            token = self.tokens.get(scope)
            try:
                return self._follow(self.url(path), dict(headers or {}), token)
            except urllib.error.HTTPError as exc:
                with exc:
                    if exc.code != 401 or attempt == 1:
                        raise self._http_error(exc, path, scope) from None
                    challenges = parse_challenges(exc.headers.get_all("WWW-Authenticate") or [])
                if "bearer" not in challenges:
                    schemes = ", ".join(sorted(challenges)) or "none"
                    raise RegistryError(
                        f"registry {self.host} wants a login (auth schemes: {schemes}); "
                        "boxtrace pull does anonymous pulls only"
                    ) from None
                self.tokens[scope] = self._token(challenges["bearer"], scope)
        raise AssertionError("unreachable")

    def _follow(self, url: str, headers: dict[str, str], token: str | None) -> http.client.HTTPResponse:
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **headers})
            # The token belongs to the registry: a blob's CDN (another host) never sees it.
            if token is not None and urllib.parse.urlsplit(url).netloc == origin:
                request.add_unredirected_header("Authorization", f"Bearer {token}")
            try:
                response: http.client.HTTPResponse = self.opener.open(request, timeout=TIMEOUT)
                return response
            except urllib.error.HTTPError as exc:
                if exc.code not in REDIRECTS:
                    raise
                with exc:
                    location = exc.headers.get("Location")
                if not location:
                    raise RegistryError(f"{url}: redirect ({exc.code}) without a Location") from None
                try:
                    target = urllib.parse.urljoin(url, location)
                    scheme = urllib.parse.urlsplit(target).scheme
                except ValueError:  # "http://[::1": not a URL
                    raise RegistryError(f"{url}: redirected to {location!r}, not a URL") from None
                if scheme not in ("http", "https"):
                    raise RegistryError(f"{url}: redirected to {target!r}, not an HTTP URL") from None
                if url.startswith("https:") and target.startswith("http:"):
                    raise RegistryError(
                        f"{url}: redirected from HTTPS to plain HTTP ({target}): refused"
                    ) from None
                url = target
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                raise RegistryError(_network_error(self.host, url, exc)) from None
        raise RegistryError(f"{self.host}: more than {MAX_REDIRECTS} redirects for {url}")

    def _token(self, challenge: dict[str, str], scope: str) -> str:
        realm = challenge.get("realm", "")
        if urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryError(f"registry {self.host} names no usable token service (realm {realm!r})")
        query = {"scope": challenge.get("scope") or scope}
        if challenge.get("service"):
            query["service"] = challenge["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                data = json.loads(_read_limited(response, 1 << 20, f"token from {realm}"))
        except urllib.error.HTTPError as exc:
            with exc:
                raise RegistryError(
                    f"token service {realm} of registry {self.host} refused an anonymous token "
                    f"for {query['scope']} ({exc.code} {exc.reason})"
                ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise RegistryError(_network_error(self.host, realm, exc)) from None
        except (ValueError, RecursionError):
            raise RegistryError(f"token service {realm} answered something that is not JSON") from None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service {realm} answered without a token")
        return token

    def _http_error(self, exc: urllib.error.HTTPError, path: str, scope: str) -> RegistryError:
        codes, messages = _error_body(exc)
        detail = "; ".join(messages) or exc.reason
        if exc.code == 404:
            return NotFound(f"{self.host}{path}: not found ({detail})", codes)
        if exc.code == 401:
            repository = scope.split(":")[1]
            return RegistryError(
                f"registry {self.host} refused access to {repository!r} ({detail}): the repository "
                "does not exist or needs a login (boxtrace pull does anonymous pulls only)"
            )
        if exc.code == 429:
            return RegistryError(f"registry {self.host}: too many requests (rate limited): {detail}")
        return RegistryError(f"registry {self.host} answered {exc.code} {exc.reason} for {path}: {detail}")


def _read_limited(response: IO[bytes], limit: int, what: str) -> bytes:
    try:
        data = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:  # a reset, a timeout, IncompleteRead
        raise RegistryError(f"{what}: the download broke off: {exc}") from None
    if len(data) > limit:
        raise RegistryError(f"{what}: larger than {limit} bytes, refused")
    return data


def _error_body(exc: urllib.error.HTTPError) -> tuple[list[str], list[str]]:
    """The registry's {"errors": [{"code", "message"}]} body, if it sent one."""
    try:
        data = json.loads(exc.read(1 << 16))
        errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    except (ValueError, AttributeError, OSError, RecursionError):
        return [], []
    return [str(e.get("code", "")) for e in errors], [str(e.get("message", "")) for e in errors]


def _network_error(host: str, url: str, exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"cannot reach registry {host}: its TLS certificate is not trusted ({reason.verify_message}); "
            f"if it has no TLS, use --insecure or {INSECURE_ENV}"
        )
    if isinstance(reason, ssl.SSLError):
        return (
            f"cannot reach registry {host}: TLS failed ({reason.reason or reason}); a registry that "
            f"speaks plain HTTP needs --insecure or {INSECURE_ENV}"
        )
    if isinstance(reason, socket.gaierror):
        return f"cannot reach registry {host}: unknown host ({reason.strerror})"
    if isinstance(reason, TimeoutError):
        return f"cannot reach registry {host}: no answer within {TIMEOUT:.0f} s ({url})"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot reach registry {host}: {reason.strerror.lower()} ({url})"
    return f"cannot reach registry {host}: {reason} ({url})"
