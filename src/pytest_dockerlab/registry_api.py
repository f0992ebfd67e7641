"""The registry's own HTTP API (distribution v2), for what the engine cannot ask it: which of
the plugin's tags it holds, how large and how old they are, and deleting them
(``dockerlab images list|prune --registry``).

Credentials are the docker CLI's (``config.json`` auths and credential helpers, read as the
Docker SDK reads them); a registry that asks for a bearer token (GHCR, Docker Hub, GitLab,
Harbor) gets one for the repository. Plain HTTP is used for 127.0.0.0/8 and localhost, as
the engine does; HTTPS for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .engine import epoch
from .exceptions import DockerlabError

# What a manifest request accepts: Docker's and OCI's single-image manifests.
_MANIFESTS = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
_TIMEOUT = 30  # seconds for one request: a registry that has not answered by then will not


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


class RegistryAPI:
    """Requests to one registry for the repositories under ``repository`` (HOST/PATH)."""

    def __init__(self, repository: str) -> None:
        import requests

        self.host, _, self.path = repository.partition("/")
        local = self.host.startswith(("127.", "localhost", "[::1]"))
        self.base = f"{'http' if local else 'https'}://{self.host}"
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}  # scope -> bearer token

    def tags(self, name: str) -> list[str]:
        """The tags of ``PATH/name`` (none when there is no such repository)."""
        found: list[str] = []
        url: str | None = f"/v2/{self.path}/{name}/tags/list?n=1000"
        while url:
            answer = self._request("GET", url, name, missing_ok=True)
            if answer is None:
                return found
            found += answer.json().get("tags") or []
            link = re.search(r"<([^>]+)>", answer.headers.get("Link", ""))
            url = link[1] if link else None
        return sorted(found)

    def describe(self, name: str, tag: str) -> Tag | None:
        """Size, age and digest of ``PATH/name:tag`` (None when it went meanwhile)."""
        answer = self._request(
            "GET", f"/v2/{self.path}/{name}/manifests/{tag}", name, accept=_MANIFESTS,
            missing_ok=True,
        )  # fmt: skip
        if answer is None:
            return None
        manifest = answer.json()
        digest = answer.headers.get("Docker-Content-Digest", "")
        layers = tuple(
            (str(layer.get("digest", "")), int(layer.get("size", 0)))
            for layer in manifest.get("layers") or []
        )
        size = sum(bytes_ for _, bytes_ in layers)
        created = 0.0
        config = (manifest.get("config") or {}).get("digest")
        if config:
            blob = self._request("GET", f"/v2/{self.path}/{name}/blobs/{config}", name)
            assert blob is not None
            created = epoch(str(blob.json().get("created") or ""))
        return Tag(name, tag, digest, size, created, layers)

    def delete(self, tag: Tag) -> None:
        """Delete ``tag``'s manifest (every tag of it goes); RegistryAPIError if refused."""
        self._request(
            "DELETE", f"/v2/{self.path}/{tag.name}/manifests/{tag.digest}", tag.name,
            push=True, missing_ok=True,
        )  # fmt: skip

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
    ) -> Any:
        import requests

        headers = {"Accept": accept} if accept else {}
        scope = f"repository:{self.path}/{name}:{'pull,push,delete' if push else 'pull'}"
        full = url if url.startswith("http") else f"{self.base}{url}"
        try:
            answer = self.session.request(
                method, full, headers={**headers, **self._auth(scope)}, timeout=_TIMEOUT
            )
            if answer.status_code == 401:
                token = self._authenticate(answer.headers.get("WWW-Authenticate", ""), scope)
                answer = self.session.request(
                    method, full, headers={**headers, **token}, timeout=_TIMEOUT
                )
        except requests.RequestException as exc:
            # The operating system's words ("Connection refused"), not urllib3's whole story.
            said = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
            reason = said[1] if said else type(exc).__name__
            raise RegistryAPIError(f"registry {self.host} cannot be reached: {reason}") from None
        if answer.status_code == 404 and missing_ok:
            return None
        if answer.status_code == 405 and method == "DELETE":
            raise RegistryAPIError(
                f"registry {self.host} refuses deletes (405): its operator must allow them "
                "(the distribution registry: storage.delete.enabled: true)"
            )
        if answer.status_code >= 400:
            raise RegistryAPIError(
                f"registry {self.host}: {method} {url}: {answer.status_code} "
                f"{_errors(answer) or answer.reason}"
            )
        return answer

    def _auth(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _authenticate(self, challenge: str, scope: str) -> dict[str, str]:
        """Answer a 401: basic credentials, or a bearer token fetched with them."""
        credentials = _credentials(self.host)
        user, password = credentials.get("username", ""), credentials.get("password", "")
        basic = (user, password) if user else None
        if challenge.lower().startswith("basic"):
            if basic is None:
                raise RegistryAPIError(
                    f"registry {self.host} asks for credentials and the docker CLI has none "
                    f"for it (docker login {self.host})"
                )
            self.session.auth = basic
            return {}
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryAPIError(
                f"registry {self.host}: unauthorized ({challenge or 'no challenge'})"
            )
        params["scope"] = scope
        answer = self.session.get(realm, params=params, auth=basic, timeout=_TIMEOUT)
        if answer.status_code >= 400:
            raise RegistryAPIError(
                f"registry {self.host}: no token for {scope}: {answer.status_code} {answer.reason}"
            )
        body = answer.json()
        token = str(body.get("token") or body.get("access_token") or "")
        self._tokens[scope] = token
        return {"Authorization": f"Bearer {token}"}


def _credentials(host: str) -> dict[str, str]:
    """What the docker CLI keeps for ``host``: config.json auths or a credential helper."""
    import docker.auth

    found = docker.auth.resolve_authconfig(docker.auth.load_config(), host) or {}
    return {str(k).lower(): str(v) for k, v in found.items()}


def _errors(answer: Any) -> str:
    try:
        errors = answer.json().get("errors") or []
    except ValueError:
        return ""
    return "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
