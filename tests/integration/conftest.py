"""Integration tests: pytester sessions of the plugin against a real Docker engine.

Without an engine they skip in a developer's shell, and fail in CI (CI=true),
where the engine is required.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ..support import engines
from ..support.engines import RegistryServer, SecondEngine, leftovers

__all__ = ["RegistryServer", "SecondEngine", "leftovers"]

T = TypeVar("T")

# Labs that tests copy into a pytester folder and run there; not tests of this session.
collect_ignore_glob = ["labs/*"]

TWO_HOSTS = """
hosts:
  web:
    image: debian12
    groups: [webservers]
    vars: {http_port: 80}
  db:
    image: debian12
    groups: [dbservers]
"""

# Inner tests record their session id, so the outer test can check what it left.
RECORD_SESSION = """
import pathlib, pytest

@pytest.fixture(autouse=True)
def _record_session(request):
    if "lab" in request.fixturenames:
        lab = request.getfixturevalue("lab")
        pathlib.Path(request.config.rootpath, "session-id").write_text(lab.session_id)
"""


@pytest.fixture(autouse=True)
def _no_converge_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions converge for real unless a test asks for the cache: an entry left by an
    earlier run would turn a converge test into a cache test."""
    monkeypatch.setenv("DOCKERLAB_CACHE", "off")


@pytest.fixture(autouse=True)
def _leaves_nothing(docker_client: Any) -> Iterator[None]:
    """Each test leaves the engine as it found it: a container, network or volume with a
    session label that it made and did not remove fails that test, by name, instead of the
    run's final count failing with no test to blame."""
    before = labelled(docker_client)
    yield
    left = labelled(docker_client) - before
    if left:
        pytest.fail(f"left on the engine: {', '.join(sorted(left))}", pytrace=False)


def remove_cache_entries(client: Any, lab_file: Path) -> None:
    """The converge cache entries a test's lab file made."""
    from pytest_dockerlab.cache import ENTRY, LAB_FILE

    for image in client.images.list(filters={"label": f"{LAB_FILE}={lab_file}"}):
        if image.labels.get(ENTRY) == "true":
            client.images.remove(image.id, force=True)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        message = f"no Docker engine reachable ({exc}); run scripts/engine.sh start"
        if os.environ.get("CI"):
            pytest.fail(f"the engine is required in CI: {message}")
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def labdir(pytester: pytest.Pytester, docker_client: Any) -> pytest.Pytester:
    """A pytester folder with the two-host lab file and session recording in place."""
    pytester.makefile(".yml", dockerlab=TWO_HOSTS)
    pytester.makeconftest(RECORD_SESSION)
    return pytester


def session_id(pytester: pytest.Pytester) -> str:
    return (pytester.path / "session-id").read_text()


def labelled(client: Any) -> set[str]:
    """Every container, network and volume on the engine that carries a session label."""
    return set(leftovers(client, ""))


def run(pytester: pytest.Pytester, *args: str, timeout: float = 600) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


def write_recipe(root: Path, name: str, dockerfile: str, recipe_yml: str) -> None:
    folder = root / "recipes" / name
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / "recipe.yml").write_text(recipe_yml)


def required(what: str) -> None:
    """A tool the tests need is missing: a skip in a developer's shell, a failure in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {what}")
    pytest.skip(what)


def another_engine(
    root: Path, index: int, *, isolated: bool = False
) -> contextlib.AbstractContextManager[SecondEngine]:
    """Another dockerd (``index`` keeps several apart; ``isolated``: see the engines
    module): a skip without root and dockerd, a failure in CI."""
    return _required(engines.another_engine(root, index, isolated=isolated))


def registry_server(
    folder: Path, htpasswd: Path | None = None, *, deletes: bool = True
) -> contextlib.AbstractContextManager[RegistryServer]:
    """A docker-registry on 127.0.0.1: a skip without it, a failure in CI."""
    return _required(engines.registry_server(folder, htpasswd, deletes=deletes))


@contextlib.contextmanager
def _required(starting: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    """What ``starting`` starts: a skip when the machine lacks it, a failure in CI; a
    failure when it was started and did not answer."""
    try:
        with starting as started:
            yield started
    except engines.Missing as exc:
        required(str(exc))
    except engines.DidNotStart as exc:
        pytest.fail(str(exc))
