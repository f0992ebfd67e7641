"""Which engine a session talks to: the docker CLI's order, then the sockets engines leave."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_dockerlab.address import EngineAddress, Tls, resolve
from pytest_dockerlab.exceptions import EngineUnavailableError, engine_hint


def make_context(
    config_dir: Path, name: str, host: str, tls: bool = False, skip_verify: bool = False
) -> None:
    """A context where `docker context create NAME --docker host=HOST[,ca=...]` puts it."""
    ident = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / ident
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls:
        folder = config_dir / "contexts" / "tls" / ident / "docker"
        folder.mkdir(parents=True)
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            (folder / pem).write_text("x")


def set_variables(address: EngineAddress) -> dict[str, str]:
    return {n: v for n, v in address.environment().items() if v is not None}


def test_a_context_that_skips_tls_verification_uses_tls_without_files(tmp_path: Path) -> None:
    """As the CLI: `--docker host=tcp://...,skip-tls-verify=true` is TLS, unverified."""
    make_context(tmp_path / ".docker", "lab", "tcp://engine:2376", skip_verify=True)
    address = resolve({"DOCKER_CONTEXT": "lab"}, home=tmp_path, platform="linux")
    assert address.tls == Tls("", verify=False)
    assert set_variables(address) == {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS": "1"}
    tls = address.client_kwargs()["tls"]
    assert tls.verify is False and tls.cert is None  # type: ignore[attr-defined]


def test_docker_host_wins_over_every_context(tmp_path: Path) -> None:
    make_context(tmp_path / ".docker", "colima", "unix:///colima.sock")
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "colima"}')
    env = {"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CONTEXT": "colima"}
    address = resolve(env, home=tmp_path, platform="linux")
    assert address == EngineAddress("tcp://10.0.0.5:2375", "DOCKER_HOST")
    assert set_variables(address) == {"DOCKER_HOST": "tcp://10.0.0.5:2375"}
    # An inherited DOCKER_CONTEXT or TLS variable must not reach the CLI with this address.
    assert {n for n, v in address.environment().items() if v is None} == {
        "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"
    }  # fmt: skip


def test_docker_context_variable_wins_over_the_current_context(tmp_path: Path) -> None:
    make_context(tmp_path / ".docker", "colima", "unix:///colima.sock")
    make_context(tmp_path / ".docker", "remote", "ssh://ops@big-box")
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "colima"}')
    address = resolve({"DOCKER_CONTEXT": "remote"}, home=tmp_path, platform="linux")
    assert address.host == "ssh://ops@big-box"
    assert address.source == "docker context 'remote' from DOCKER_CONTEXT"
    assert address.client_kwargs() == {"base_url": "ssh://ops@big-box", "use_ssh_client": True}


def test_the_current_context_of_the_cli_config(tmp_path: Path) -> None:
    """Docker Desktop, Colima and OrbStack set a current context and no DOCKER_HOST: the
    docker-py SDK alone would miss it (docker-py#3146)."""
    config = tmp_path / "elsewhere"
    make_context(config, "desktop-linux", "unix:///home/me/.docker/desktop/docker.sock")
    (config / "config.json").write_text('{"auths": {}, "currentContext": "desktop-linux"}')
    address = resolve({"DOCKER_CONFIG": str(config)}, home=tmp_path, platform="linux")
    assert address.describe() == (
        "unix:///home/me/.docker/desktop/docker.sock (docker context 'desktop-linux')"
    )
    assert set_variables(address) == {"DOCKER_HOST": "unix:///home/me/.docker/desktop/docker.sock"}


def test_a_tls_context_hands_its_certificates_to_every_client(tmp_path: Path) -> None:
    make_context(tmp_path / ".docker", "prod", "tcp://engine:2376", tls=True)
    address = resolve({"DOCKER_CONTEXT": "prod"}, home=tmp_path, platform="linux")
    folder = tmp_path / ".docker/contexts/tls" / hashlib.sha256(b"prod").hexdigest() / "docker"
    assert address.tls == Tls(str(folder), verify=True)
    assert set_variables(address) == {
        "DOCKER_HOST": "tcp://engine:2376",
        "DOCKER_CERT_PATH": str(folder),
        "DOCKER_TLS_VERIFY": "1",
    }
    tls = address.client_kwargs()["tls"]
    assert tls.cert == (str(folder / "cert.pem"), str(folder / "key.pem"))  # type: ignore[attr-defined]
    assert tls.verify == str(folder / "ca.pem")  # type: ignore[attr-defined]


def test_tls_from_the_environment_as_the_cli_reads_it(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS_VERIFY": "1"}
    address = resolve(env, home=tmp_path, platform="linux")
    assert address.tls == Tls(str(tmp_path / ".docker"), verify=True)
    env["DOCKER_CERT_PATH"] = "/certs"
    assert set_variables(resolve(env, home=tmp_path, platform="linux"))["DOCKER_CERT_PATH"] == (
        "/certs"
    )


@pytest.mark.parametrize("current", ['{"currentContext": "default"}', "{}", "not json", None])
def test_the_default_context_falls_back_to_the_sockets(tmp_path: Path, current: str | None) -> None:
    if current is not None:
        (tmp_path / ".docker").mkdir()
        (tmp_path / ".docker" / "config.json").write_text(current)
    runtime = tmp_path / "run"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").touch()
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    address = resolve(
        env,
        home=tmp_path,
        platform="linux",
        exists=lambda p: Path(p).exists() and p.startswith(str(tmp_path)),
    )
    assert address == EngineAddress(
        f"unix://{runtime}/podman/podman.sock", "rootless Podman's socket"
    )


def test_no_socket_anywhere_names_the_default_and_what_was_looked_for(tmp_path: Path) -> None:
    address = resolve({}, home=tmp_path, platform="darwin", exists=lambda p: False)
    assert address.host == "unix:///var/run/docker.sock"
    assert str(tmp_path / ".colima/default/docker.sock") in address.tried
    assert str(tmp_path / ".orbstack/run/docker.sock") in address.tried


def test_the_system_socket_comes_before_podman(tmp_path: Path) -> None:
    def exists(path: str) -> bool:
        return path in ("/var/run/docker.sock", "/run/podman/podman.sock")

    address = resolve({}, home=tmp_path, platform="linux", exists=exists)
    assert address == EngineAddress("unix:///var/run/docker.sock", "the default socket")
    address = resolve({}, home=tmp_path, platform="linux", exists=lambda p: "podman" in p)
    assert address == EngineAddress("unix:///run/podman/podman.sock", "Podman's socket")


def test_windows_uses_the_named_pipe(tmp_path: Path) -> None:
    assert resolve({}, home=tmp_path, platform="win32").host == "npipe:////./pipe/docker_engine"


def test_a_missing_context_is_named_with_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError) as raised:
        resolve({"DOCKER_CONTEXT": "nosuch"}, home=tmp_path, platform="linux")
    assert str(raised.value) == (
        "no Docker engine reachable at docker context 'nosuch' from DOCKER_CONTEXT (no such "
        f"context in {tmp_path}/.docker/contexts). 'docker context ls' lists the contexts; "
        "'docker context use NAME' picks one."
    )


def test_a_broken_context_file_is_named(tmp_path: Path) -> None:
    make_context(tmp_path / ".docker", "broken", "unix:///x.sock")
    meta = next((tmp_path / ".docker/contexts/meta").rglob("meta.json"))
    meta.write_text("{")
    with pytest.raises(EngineUnavailableError, match=f"cannot read {meta}"):
        resolve({"DOCKER_CONTEXT": "broken"}, home=tmp_path, platform="linux")


@pytest.mark.parametrize(
    ("platform", "words"),
    [
        ("linux", ["apt-get install docker.io", "systemctl start docker", "podman.socket"]),
        ("darwin", ["Docker Desktop", "colima start", "docker context"]),
        ("win32", ["Docker Desktop", "WSL"]),
    ],
)
def test_the_no_engine_hint_says_what_to_install_on_each_os(
    platform: str, words: list[str]
) -> None:
    hint = engine_hint(platform)
    for word in words:
        assert word in hint
    assert "DOCKER_HOST" in hint
    assert "scripts/engine.sh" not in hint  # a pip user has no checkout
