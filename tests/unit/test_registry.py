"""Sharing through a registry: pulled instead of built or converged, pushed after, and every
failure said in one line (or fatal when the run requires the registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_dockerlab.cache import ConvergeCache, Stats
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.registry import Registry, RegistryError
from pytest_dockerlab.runkey import RunKey, run_key
from pytest_dockerlab.settings import Settings, SettingsError, from_environment
from pytest_dockerlab.spec import load_lab_file

from .fakes import FakeEngine
from .test_cache import FILES, LAB, VERSIONS

REPO = "127.0.0.1:5000/lab"
RECIPE = catalogue()["debian12"]
REMOTE = f"{REPO}/debian12:{RECIPE.digest[:12]}"


def registry(engine: FakeEngine, said: list[str], **kwargs: bool) -> Registry:
    return Registry(engine, REPO, said.append, **kwargs)


def test_an_image_the_registry_has_is_pulled_not_built() -> None:
    source = FakeEngine()
    source.tags.add(RECIPE.tag)
    registry(source, []).publish(RECIPE.tag)
    engine, said = FakeEngine(), list[str]()
    engine.registry, engine.pushed = source.registry, source.pushed
    tag = ImageBuilder(engine, said.append, registry=registry(engine, said)).ensure(RECIPE)
    assert tag == RECIPE.tag and engine.image_exists(tag)
    assert [c for c, _ in engine.calls] == ["look up", "pull"]  # no build, no base, no push
    assert f"pulled debian12:{RECIPE.digest[:12]}" in said[-1]


def test_an_image_built_here_or_found_here_is_pushed_once() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    builder = ImageBuilder(engine, said.append, registry=registry(engine, said))
    builder.ensure(RECIPE)
    assert ("push", REMOTE) in engine.calls
    assert ("build", f"{RECIPE.tag} BASE=debian:12") in engine.calls
    pushes = len([c for c in engine.calls if c[0] == "push"])
    builder.ensure(RECIPE)  # there now, and the registry has it: nothing more
    assert len([c for c in engine.calls if c[0] == "push"]) == pushes
    # Another machine that built before the registry was set fills it.
    other = FakeEngine(images=[RECIPE.tag])
    ImageBuilder(other, said.append, registry=registry(other, said)).ensure(RECIPE)
    assert ("push", REMOTE) in other.calls


def test_a_read_only_run_never_pushes() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    ImageBuilder(engine, said.append, registry=registry(engine, said, push=False)).ensure(RECIPE)
    assert [c for c, _ in engine.calls if c == "push"] == []


def test_a_registry_that_cannot_be_asked_is_said_once_and_left_alone() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    engine.registry_error = 'Get "http://127.0.0.1:5000/v2/": connection refused'
    shared = registry(engine, said)
    ImageBuilder(engine, said.append, registry=shared).ensure(RECIPE)
    ImageBuilder(engine, said.append, registry=shared).ensure(catalogue()["debian13"])
    failures = [line for line in said if line.startswith("registry")]
    assert failures == [
        f"registry {REPO}: cannot look up debian12:{RECIPE.digest[:12]}: Get "
        '"http://127.0.0.1:5000/v2/": connection refused; building and converging without it '
        "this session"
    ]
    assert [c for c, _ in engine.calls].count("look up") == 1
    assert "push" not in [c for c, _ in engine.calls]
    assert engine.image_exists(RECIPE.tag)  # built all the same


def test_a_required_registry_that_fails_fails_with_that_line() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    engine.registry_error = "unauthorized: authentication required"
    builder = ImageBuilder(engine, said.append, registry=registry(engine, said, required=True))
    with pytest.raises(RegistryError, match=r"cannot look up .*: unauthorized: authentication"):
        builder.ensure(RECIPE)


def test_a_refused_push_is_said_and_the_run_goes_on_without_pushing() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    engine.push_error = "denied: quota exceeded"
    shared = registry(engine, said)
    assert ImageBuilder(engine, said.append, registry=shared).ensure(RECIPE) == RECIPE.tag
    assert f"pushing debian12:{RECIPE.digest[:12]} failed: denied: quota exceeded" in said[-1]
    assert not shared.push


def test_a_pull_that_fails_mid_way_builds_instead() -> None:
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    engine.registry[REMOTE] = "sha256:" + "1" * 64
    engine.pull_error = "unexpected EOF"
    ImageBuilder(engine, said.append, registry=registry(engine, said)).ensure(RECIPE)
    assert (
        f"registry {REPO}: pulling debian12:{RECIPE.digest[:12]} failed: unexpected EOF; "
        "making it here"
    ) in said
    assert engine.image_exists(RECIPE.tag)


# The converge cache through the registry


def cache_on(engine: FakeEngine, tmp_path: Path, said: list[str]) -> ConvergeCache:
    stats = Stats(tmp_path / f"stats-{id(engine)}.json")
    return ConvergeCache(engine, said.append, stats=stats, registry=registry(engine, said))


@pytest.fixture
def run(tmp_path: Path) -> RunKey:
    (tmp_path / "dockerlab.yml").write_text(LAB)
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    spec = load_lab_file(tmp_path / "dockerlab.yml")
    bases = {"web": "sha256:base", "db": "sha256:base"}
    return run_key(spec, ("web", "db"), bases, idempotence=False, tool_versions=VERSIONS)


def test_an_entry_is_pushed_hosts_first_then_its_marker(run: RunKey, tmp_path: Path) -> None:
    engine, said = FakeEngine(), list[str]()
    cache = cache_on(engine, tmp_path, said)
    cache.store(run, {"web": "c-web", "db": "c-db"}, {}, tmp_path / "dockerlab.yml")
    cache.publish(run)
    pushes = [ref for call, ref in engine.calls if call == "push"]
    assert pushes == [
        f"{REPO}/cache:{run.key}-web",
        f"{REPO}/cache:{run.key}-db",
        f"{REPO}/cache:{run.key}",
    ]
    assert cache.engine.images("pytest-dockerlab.cache-marker") == []  # no marker left here


def test_another_engine_hits_the_entry_through_the_registry(run: RunKey, tmp_path: Path) -> None:
    first, said = FakeEngine(), list[str]()
    cache = cache_on(first, tmp_path, said)
    cache.store(run, {"web": "c-web", "db": "c-db"}, {}, tmp_path / "dockerlab.yml")
    cache.publish(run)
    second = FakeEngine()
    second.registry, second.pushed = first.registry, first.pushed
    other = cache_on(second, tmp_path, said)
    assert other.lookup(run) is None
    found = other.fetch(run)
    assert found is not None and sorted(found) == ["db", "web"]
    pulled = [ref for call, ref in second.calls if call == "pull"]
    # The hosts' images by the digests the marker names: never whatever a tag holds now.
    assert pulled[1:] == [
        f"{REPO}/cache@{first.registry[f'{REPO}/cache:{run.key}-web']}",
        f"{REPO}/cache@{first.registry[f'{REPO}/cache:{run.key}-db']}",
    ]


def test_hosts_pushed_without_their_marker_are_no_entry(run: RunKey, tmp_path: Path) -> None:
    first, said = FakeEngine(), list[str]()
    cache = cache_on(first, tmp_path, said)
    cache.store(run, {"web": "c-web", "db": "c-db"}, {}, tmp_path / "dockerlab.yml")
    cache.publish(run)
    del first.registry[f"{REPO}/cache:{run.key}"]  # the push was cut off before the marker
    second = FakeEngine()
    second.registry, second.pushed = first.registry, first.pushed
    assert cache_on(second, tmp_path, said).fetch(run) is None
    assert [c for c, _ in second.calls if c == "pull"] == []


def test_two_sessions_pushing_one_key_leave_one_whole_entry(run: RunKey, tmp_path: Path) -> None:
    """Each pushes its own hosts' images; the marker that lands last names its own."""
    shared_registry: dict[str, str] = {}
    shared_pushed: dict[str, dict[str, str]] = {}
    digests = []
    for _ in range(2):
        engine, said = FakeEngine(), list[str]()
        engine.registry, engine.pushed = shared_registry, shared_pushed
        engine.registry.pop(f"{REPO}/cache:{run.key}", None)  # both looked before either pushed
        cache = cache_on(engine, tmp_path, said)
        cache.store(run, {"web": "c-web", "db": "c-db"}, {}, tmp_path / "dockerlab.yml")
        cache.publish(run)
        digests.append({h: shared_registry[f"{REPO}/cache:{run.key}-{h}"] for h in ("web", "db")})
    reader = FakeEngine()
    reader.registry, reader.pushed = shared_registry, shared_pushed
    assert cache_on(reader, tmp_path, []).fetch(run) is not None
    pulled = {ref.rpartition("@")[2] for call, ref in reader.calls if call == "pull"}
    assert set(digests[1].values()) <= pulled and not set(digests[0].values()) & pulled


# Settings


def given(environ: dict[str, str], **options: Any) -> Settings:
    return from_environment(environ, **options)


def test_the_registry_settings_and_their_defaults() -> None:
    settings = given({"DOCKERLAB_REGISTRY": "ghcr.io/acme/dockerlab/"})
    assert (settings.registry, settings.registry_push, settings.registry_required) == (
        "ghcr.io/acme/dockerlab",
        True,
        False,
    )
    ci = given({"CI": "true"}, registry="127.0.0.1:5000/lab", registry_push="off")
    assert (ci.registry, ci.registry_push, ci.registry_required) == (
        "127.0.0.1:5000/lab",
        False,
        True,
    )
    relaxed = given({"CI": "true", "DOCKERLAB_REGISTRY_REQUIRED": "off"})
    assert not relaxed.registry_required


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("ghcr.io/Acme/lab", "not a repository docker takes"),
        ("127.0.0.1:5000/lab:v1", "not a repository docker takes"),
        ("https://ghcr.io/acme", "not a repository docker takes"),
        ("dockerlab", "not a repository docker takes"),  # Docker Hub's library: not ours
    ],
)
def test_a_registry_docker_would_refuse_is_refused_at_start(option: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"--dockerlab-registry '{option}' is {message}"):
        given({}, registry=option)


def test_the_base_mirror_is_where_registry_bases_come_from() -> None:
    recipe = catalogue()["rockylinux9"]
    engine, said = FakeEngine(), list[str]()
    mirror = given({"DOCKERLAB_BASE_MIRROR": "mirror.example:5000/hub"}).base_mirror
    ImageBuilder(engine, said.append, base_mirror=mirror).ensure(recipe)
    assert ("pull", f"mirror.example:5000/hub/{recipe.base}") in engine.calls
    assert engine.image_exists(recipe.base)  # found by its own name next time
    assert ("build", f"{recipe.tag} BASE={recipe.base}") in engine.calls


def test_images_build_takes_the_registry_settings_a_session_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DOCKERLAB_REGISTRY unasked, CI's required, the base mirror; list and prune only when
    asked with --registry."""
    from pytest_dockerlab.cli import build_parser, parse_args
    from pytest_dockerlab.cli.images import _settings

    for name, value in {"CI": "true", "DOCKERLAB_REGISTRY": REPO,
                        "DOCKERLAB_BASE_MIRROR": "mirror.example/hub"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    build = _settings(parse_args(build_parser(), ["images", "build", "debian12"]))
    assert (build.registry, build.registry_required, build.base_mirror) == (
        REPO,
        True,
        "mirror.example/hub",
    )
    assert _settings(parse_args(build_parser(), ["images", "list"])).registry is None
    listed = _settings(parse_args(build_parser(), ["images", "list", "--registry"]))
    assert listed.registry == REPO
    pushing = ["images", "build", "--registry=127.0.0.1:5001/x", "--registry-push=off"]
    other = _settings(parse_args(build_parser(), pushing))
    assert (other.registry, other.registry_push) == ("127.0.0.1:5001/x", False)


def test_a_refresh_replaces_the_registrys_entry(run: RunKey, tmp_path: Path) -> None:
    engine, said = FakeEngine(), list[str]()
    cache = cache_on(engine, tmp_path, said)
    cache.store(run, {"web": "c-web", "db": "c-db"}, {}, tmp_path / "dockerlab.yml")
    cache.publish(run)
    first = engine.registry[f"{REPO}/cache:{run.key}"]
    cache.publish(run)  # the registry has it: nothing
    assert engine.registry[f"{REPO}/cache:{run.key}"] == first
    cache.publish(run, replace=True)
    assert engine.registry[f"{REPO}/cache:{run.key}"] != first


def test_denied_for_a_repository_never_pushed_to_is_left_to_the_push() -> None:
    """Docker Hub and GHCR answer "denied" for a repository nothing was pushed to yet: with
    pushing allowed, the push says whether we may; read only, the line says it."""
    engine, said = FakeEngine(images=["debian:12"]), list[str]()
    engine.registry_error = "denied: requested access to the resource is denied"
    ImageBuilder(engine, said.append, registry=registry(engine, said)).ensure(RECIPE)
    assert ("push", REMOTE) in engine.calls
    assert not [line for line in said if line.startswith("registry")]
    reader, said = FakeEngine(images=["debian:12"]), list[str]()
    reader.registry_error = engine.registry_error
    shared = registry(reader, said, push=False)
    ImageBuilder(reader, said.append, registry=shared).ensure(RECIPE)
    assert any("cannot look up" in line and "denied" in line for line in said)
