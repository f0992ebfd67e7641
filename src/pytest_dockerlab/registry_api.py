"""The registry's own HTTP API (distribution v2), for what the engine cannot ask it: which of
the plugin's tags it holds, how large and how old they are, and deleting them
(``dockerlab images list|prune --registry``).

Credentials are the docker CLI's (``config.json`` auths and credential helpers, read as the
Docker SDK reads them); a registry that asks for a bearer token (GHCR, Docker Hub, GitLab,
Harbor) gets one for the repository. Plain HTTP is used for 127.0.0.0/8 and localhost, as
the engine does; HTTPS for everything else. Every request waits
:data:`~.engine.REGISTRY_TIMEOUT` seconds at most.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine import REGISTRY_TIMEOUT, epoch
from .exceptions import DockerlabError

# What a manifest request accepts: Docker's and OCI's single-image manifests.
_MANIFESTS = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


class RegistryAPIError(DockerlabError):
    """The registry refused a request or could not be reached."""


@dataclass(frozen=True)
class Tag:
    """One tag of the plugin's in the registry."""

    name: str  # the repository under the plugin's one: "debian12", "rootfs-bookworm", "cache"
    tag: str
    digest: str
    size: int  # bytes of its layers, compressed as stored
    created: float  # epoch seconds its image says it was made (0 when it does not say)
    layers: tuple[tuple[str, int], ...] = ()  # (digest, compressed bytes) of each layer
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise RegistryAPIError(f"the registry answered {self.status} with no JSON") from None


class RegistryAPI:
    """Requests to one registry for the repositories under ``repository`` (HOST/PATH)."""

    def __init__(self, repository: str) -> None:
        self.host, _, self.path = repository.partition("/")
        local = self.host.startswith(("127.", "localhost", "[::1]"))
        self.base = f"{'http' if local else 'https'}://{self.host}"
        self._authorization: dict[str, str] = {}  # scope -> Authorization header

    def tags(self, name: str) -> list[str]:
        """The tags of ``PATH/name`` (none when there is no such repository)."""
        found: list[str] = []
        url: str | None = f"/v2/{self.path}/{name}/tags/list?n=1000"
        while url:
            answer = self._request("GET", url, name, missing_ok=True)
            if answer is None:
                break
            found += answer.json().get("tags") or []
            link = re.search(r"<([^>]+)>", answer.headers.get("Link", ""))
            url = link[1] if link else None
        return sorted(found)

    def describe(self, name: str, tag: str) -> Tag | None:
        """Size, age, digest and labels of ``PATH/name:tag`` (None when it went meanwhile)."""
        path = f"/v2/{self.path}/{name}/manifests/{tag}"
        answer = self._request("GET", path, name, accept=_MANIFESTS, missing_ok=True)
        if answer is None:
            return None
        manifest = answer.json()
        layers = tuple(
            (str(layer.get("digest", "")), int(layer.get("size", 0)))
            for layer in manifest.get("layers") or []
        )
        created, labels = 0.0, dict[str, str]()
        config = (manifest.get("config") or {}).get("digest")
        if config:
            blob = self._request("GET", f"/v2/{self.path}/{name}/blobs/{config}", name)
            if blob is not None:
                image = blob.json()
                created = epoch(str(image.get("created") or ""))
                labels = (image.get("config") or {}).get("Labels") or {}
        digest = answer.headers.get("Docker-Content-Digest", "")
        return Tag(name, tag, digest, sum(n for _, n in layers), created, layers, labels)

    def delete(self, name: str, digest: str) -> None:
        """Delete manifest ``digest`` of ``PATH/name`` (every tag of it goes)."""
        path = f"/v2/{self.path}/{name}/manifests/{digest}"
        self._request("DELETE", path, name, push=True, missing_ok=True)

    def walk(self, names: list[str]) -> Iterator[Tag]:
        for name in names:
            for tag in self.tags(name):
                described = self.describe(name, tag)
                if described is not None:
                    yield described

    # One request, authenticated as the registry asks

    def _request(
        self,
        method: str,
        url: str,
        name: str,
        *,
        accept: str = "",
        push: bool = False,
        missing_ok: bool = False,
    ) -> _Answer | None:
        scope = f"repository:{self.path}/{name}:{'pull,push,delete' if push else 'pull'}"
        full = url if url.startswith("http") else f"{self.base}{url}"
        headers = {"Accept": accept} if accept else {}
        answer = self._send(method, full, {**headers, **self._auth(scope)})
        if answer.status == 401:
            challenge = answer.headers.get("WWW-Authenticate", "")
            self._authorization[scope] = self._authenticate(challenge, scope)
            answer = self._send(method, full, {**headers, **self._auth(scope)})
        if answer.status == 404 and missing_ok:
            return None
        if answer.status == 405 and method == "DELETE":
            raise RegistryAPIError(
                f"registry {self.host} refuses deletes (405): its operator must allow them (the "
                "distribution registry: storage.delete.enabled: true; GHCR deletes package "
                "versions through GitHub's API instead)"
            )
        if answer.status >= 400:
            raise RegistryAPIError(
                f"registry {self.host}: {method} {url}: {answer.status} {_errors(answer)}"
            )
        return answer

    def _send(self, method: str, url: str, headers: Mapping[str, str]) -> _Answer:
        request = urllib.request.Request(url, method=method, headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT) as response:
                return _Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return _Answer(exc.code, dict(exc.headers or {}), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            reason = getattr(reason, "strerror", None) or str(reason)
            raise RegistryAPIError(f"registry {self.host} cannot be reached: {reason}") from None

    def _auth(self, scope: str) -> dict[str, str]:
        header = self._authorization.get(scope)
        return {"Authorization": header} if header else {}

    def _authenticate(self, challenge: str, scope: str) -> str:
        """The Authorization header a 401 asks for: basic credentials, or a bearer token
        fetched with them."""
        user, password = _credentials(self.host)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode() if user else ""
        if challenge.lower().startswith("basic"):
            if not basic:
                raise RegistryAPIError(
                    f"registry {self.host} asks for credentials and the docker CLI has none for "
                    f"it (docker login {self.host})"
                )
            return f"Basic {basic}"
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryAPIError(f"registry {self.host}: unauthorized ({challenge or '401'})")
        params["scope"] = scope
        answer = self._send(
            "GET",
            f"{realm}?{urllib.parse.urlencode(params)}",
            {"Authorization": f"Basic {basic}"} if basic else {},
        )
        if answer.status >= 400:
            raise RegistryAPIError(
                f"registry {self.host}: no token for {scope}: {answer.status} {_errors(answer)}"
            )
        body = answer.json()
        return f"Bearer {body.get('token') or body.get('access_token') or ''}"


def _credentials(host: str) -> tuple[str, str]:
    """What the docker CLI keeps for ``host`` (config.json auths or a credential helper)."""
    import docker.auth
    import docker.errors

    try:
        found = docker.auth.resolve_authconfig(docker.auth.load_config(), host) or {}
    except docker.errors.DockerException as exc:  # a credential helper that failed
        raise RegistryAPIError(f"registry {host}: the docker CLI's credentials: {exc}") from None
    lowered = {str(k).lower(): str(v) for k, v in found.items()}
    return lowered.get("username", ""), lowered.get("password", "")


def _errors(answer: _Answer) -> str:
    """The registry's own words for a failure."""
    try:
        errors = json.loads(answer.body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return answer.body[:200].decode(errors="replace").strip()
    return "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
