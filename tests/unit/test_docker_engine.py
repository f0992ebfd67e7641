"""The Docker engine as the error boundary: SDK errors come out as the plugin's own.

The SDK errors here are built the way the SDK builds them from an HTTP answer; the client
is a stand-in, so no engine is needed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
import requests
import requests.exceptions
import urllib3

from pytest_dockerlab import docker_engine
from pytest_dockerlab.docker_engine import DockerEngine, _create_kwargs, _translate
from pytest_dockerlab.engine import ContainerState, ExecResult, Leftovers
from pytest_dockerlab.exceptions import (
    ContainerGoneError,
    DockerlabError,
    EngineError,
    EngineLostError,
    EngineUnavailableError,
    HostStartError,
    ImageBuildError,
    ImageNotFoundError,
)
from pytest_dockerlab.profiles import EngineFacts, RunProfile, choose_profile
from pytest_dockerlab.spec import (
    ContainerSpec,
    Mount,
    NetworkSpec,
    PublishedPort,
    Ulimit,
    load_lab_file,
)

REASONS = {404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


def api_error(status: int, message: str, path: str = "containers/web/exec") -> Exception:
    """An SDK error as ``docker.errors.create_api_error_from_http_exception`` makes it."""
    response = requests.Response()
    response.status_code = status
    response.reason = REASONS[status]
    response.url = f"http+docker://localhost/v1.41/{path}"
    response._content = json.dumps({"message": message}).encode() if message else b""
    try:
        docker.errors.create_api_error_from_http_exception(
            requests.exceptions.HTTPError(response=response)
        )
    except docker.errors.APIError as exc:
        error: Exception = exc
        return error
    raise AssertionError("the SDK did not raise")


def connection_refused() -> Exception:
    refused = ConnectionRefusedError(111, "Connection refused")
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", refused)
    )


def read_timeout() -> Exception:
    pool = urllib3.HTTPConnectionPool("localhost")
    return requests.exceptions.ReadTimeout(
        urllib3.exceptions.ReadTimeoutError(pool, "/x", "Read timed out. (read timeout=600)")
    )


def translated(operation: str, target: str, error: Exception, image: bool = False) -> EngineError:
    with pytest.raises(EngineError) as info, _translate(operation, target, image=image):
        raise error
    assert info.value.__cause__ is error
    return info.value


@pytest.mark.parametrize(
    ("error", "image", "kind", "status", "message"),
    [
        (
            api_error(500, "failed to allocate gateway: address in use", "networks/create"),
            False,
            EngineError,
            500,
            "engine: create network lab failed: failed to allocate gateway: address in use",
        ),
        (
            api_error(404, "network lab not found", "networks/lab"),
            False,
            EngineError,
            404,
            "engine: create network lab failed: network lab not found",
        ),
        (
            api_error(404, "No such image: debian:99", "images/debian:99/json"),
            False,
            ImageNotFoundError,
            404,
            "engine: create network lab failed: No such image: debian:99",
        ),
        (
            # Not an "image" message for the SDK; a missing image all the same for a pull.
            api_error(404, "manifest for debian:99 not found: manifest unknown", "images/create"),
            True,
            ImageNotFoundError,
            404,
            "engine: create network lab failed: manifest for debian:99 not found: manifest unknown",
        ),
        (
            api_error(500, ""),
            False,
            EngineError,
            500,
            "engine: create network lab failed: 500 Internal Server Error",
        ),
        (
            # No answer at all: the engine is lost, not refusing.
            connection_refused(),
            False,
            EngineLostError,
            None,
            "engine: no answer to create network lab: Connection refused",
        ),
        (
            read_timeout(),
            False,
            EngineLostError,
            None,
            "engine: no answer to create network lab: nothing for 600 s",
        ),
        (
            docker.errors.DockerException("Error while fetching server API version"),
            False,
            EngineError,
            None,
            "engine: create network lab failed: Error while fetching server API version",
        ),
        (
            # This machine's own failure (a file it writes is too large): the engine answered.
            OSError(27, "File too large"),
            False,
            EngineError,
            None,
            "engine: create network lab failed: [Errno 27] File too large",
        ),
        (
            # An answer that is no JSON is an answer, not a lost engine.
            requests.exceptions.JSONDecodeError("Expecting value", "hello", 0),
            False,
            EngineError,
            None,
            "engine: create network lab failed: Expecting value: line 1 column 1 (char 0)",
        ),
    ],
)
def test_sdk_errors_become_engine_errors_with_the_engines_own_words(
    error: Exception, image: bool, kind: type[EngineError], status: int | None, message: str
) -> None:
    err = translated("create network", "lab", error, image=image)
    assert type(err) is kind
    assert (err.operation, err.target, err.status) == ("create network", "lab", status)
    assert str(err) == message
    assert "http+docker" not in str(err)


def test_an_operation_without_target_reads_well() -> None:
    err = translated("read engine info", "", api_error(500, "boom"))
    assert str(err) == "engine: read engine info failed: boom"


def test_plugin_errors_pass_through_untouched() -> None:
    with pytest.raises(ImageBuildError), _translate("build", "x"):
        raise ImageBuildError("x", "step failed")


# DockerEngine against a stand-in client


class FakeAPI:
    """The part of ``docker.APIClient`` a test touches: each call answers from ``answers``.

    An answer that is an exception is raised; a callable is called with the arguments.
    """

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self.answers:
            raise AttributeError(name)
        answer = self.answers[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            if isinstance(answer, BaseException):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer

        return call


def engine_with(api: FakeAPI, **client: Any) -> DockerEngine:
    return DockerEngine(client=SimpleNamespace(api=api, **client))


EXITED = {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": True}
RUNNING = {"Status": "running", "Running": True, "ExitCode": 0, "OOMKilled": False}


def test_exec_in_an_exited_container_says_how_it_ended() -> None:
    api = FakeAPI(
        exec_create=api_error(409, "Container 3f2a is not running"),
        inspect_container={"State": EXITED},
        logs=b"Reached target Multi-User System.\nOut of memory: Killed process 1\n",
    )
    with pytest.raises(ContainerGoneError) as info:
        engine_with(api).exec("lab-web", ["true"])
    err = info.value
    assert (err.container, err.state, err.exit_code, err.oom_killed) == (
        "lab-web",
        "exited",
        137,
        True,
    )
    assert (err.operation, err.status) == ("exec", 409)
    assert err.cause == "Container 3f2a is not running"
    assert str(err) == (
        "container lab-web is not running (exited, exit code 137, killed by the OOM killer)\n"
        "--- last output ---\n"
        "Reached target Multi-User System.\nOut of memory: Killed process 1"
    )
    assert isinstance(err.__cause__, docker.errors.APIError)


@pytest.mark.parametrize("operation", ["exec", "stop", "start", "kill"])
def test_a_removed_container_is_gone_for_every_container_operation(operation: str) -> None:
    missing = api_error(404, "No such container: lab-web")
    api = FakeAPI(
        exec_create=missing, stop=missing, start=missing, kill=missing, inspect_container=missing
    )
    engine = engine_with(api)
    calls: dict[str, Callable[[], object]] = {
        "exec": lambda: engine.exec("lab-web", ["true"]),
        "stop": lambda: engine.stop("lab-web", timeout=10),
        "start": lambda: engine.start("lab-web"),
        "kill": lambda: engine.kill("lab-web", "SIGRTMIN+3"),
    }
    with pytest.raises(ContainerGoneError) as info:
        calls[operation]()
    err = info.value
    assert str(err) == "container lab-web is not running (removed)"
    assert (err.operation, err.state, err.exit_code) == (operation, "removed", None)
    assert err.log_tail == ""
    assert "logs" not in [name for name, _ in api.calls]


PAUSED = "paused, unpause the container before exec"


def test_a_refusal_in_a_running_container_is_not_taken_for_a_gone_one() -> None:
    api = FakeAPI(
        exec_create=api_error(409, f"Container lab-web is {PAUSED}"),
        inspect_container={"State": RUNNING},
    )
    with pytest.raises(EngineError) as info:
        engine_with(api).exec("lab-web", ["true"])
    assert type(info.value) is EngineError
    assert str(info.value) == (f"engine: exec lab-web failed: Container lab-web is {PAUSED}")


def test_a_409_for_a_container_that_runs_again_stays_an_engine_error() -> None:
    api = FakeAPI(
        kill=api_error(409, "Cannot kill container: lab-web: Container 3f2a is not running"),
        inspect_container={"State": RUNNING},  # restarted in between
    )
    with pytest.raises(EngineError) as info:
        engine_with(api).kill("lab-web", "SIGINT")
    assert type(info.value) is EngineError
    assert info.value.status == 409


def test_start_of_a_stopped_container_that_fails_is_no_gone_container() -> None:
    api = FakeAPI(
        start=api_error(404, "network lab not found", "containers/lab-web/start"),
        inspect_container={"State": {**EXITED, "ExitCode": 0, "OOMKilled": False}},
    )
    with pytest.raises(EngineError) as info:
        engine_with(api).start("lab-web")
    assert type(info.value) is EngineError
    assert str(info.value) == "engine: start lab-web failed: network lab not found"


def test_exec_whose_container_dies_under_it_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine, "_SETTLE_SECONDS", 0)
    exited = {**EXITED, "ExitCode": 0, "OOMKilled": False}
    api = FakeAPI(
        exec_create={"Id": "e1"},
        exec_start=b"",
        exec_inspect={"ExitCode": 137},
        inspect_container={"State": exited},
        logs=b"",
    )
    with pytest.raises(ContainerGoneError) as info:
        engine_with(api).exec("lab-web", ["sleep", "30"])
    assert str(info.value) == "container lab-web is not running (exited, exit code 0)"
    assert info.value.cause == "it stopped during the command"


def test_exec_killed_in_a_running_container_is_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine, "_SETTLE_SECONDS", 0)
    api = FakeAPI(
        exec_create={"Id": "e1"},
        exec_start=b"Killed\n",
        exec_inspect={"ExitCode": 137},
        inspect_container={"State": RUNNING},
    )
    assert engine_with(api).exec("lab-web", ["hog"]) == ExecResult(rc=137, output="Killed\n")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"State": RUNNING},
            ContainerState(
                exists=True, running=True, status="running", exit_code=None, oom_killed=False
            ),
        ),
        (
            {"State": EXITED},
            ContainerState(
                exists=True, running=False, status="exited", exit_code=137, oom_killed=True
            ),
        ),
        (
            {"State": {"Status": "created", "Running": False, "ExitCode": 0}},
            ContainerState(
                exists=True, running=False, status="created", exit_code=None, oom_killed=False
            ),
        ),
        (api_error(404, "No such container: lab-web"), ContainerState.removed()),
    ],
)
def test_state_reports_a_missing_container_instead_of_raising(
    answer: Any, expected: ContainerState
) -> None:
    assert engine_with(FakeAPI(inspect_container=answer)).state("lab-web") == expected


def test_state_raises_when_the_engine_does_not_answer() -> None:
    engine = engine_with(FakeAPI(inspect_container=connection_refused()))
    with pytest.raises(
        EngineLostError, match=r"^engine: no answer to inspect lab-web: Connection refused$"
    ):
        engine.state("lab-web")


def test_logs_say_why_there_are_none() -> None:
    engine = engine_with(FakeAPI(logs=api_error(404, "No such container: lab-web")))
    assert engine.logs("lab-web", tail=30) == "(no logs: No such container: lab-web)"


def test_remove_collects_what_failed_and_ignores_what_is_gone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = FakeAPI(
        remove_container=api_error(404, "No such container: c1"),
        remove_network=api_error(409, "network lab has active endpoints"),
        remove_volume=connection_refused(),
    )
    with caplog.at_level(logging.WARNING):
        engine_with(api).remove(Leftovers(containers=("c1",), networks=("n1",), volumes=("v1",)))
    assert [name for name, _ in api.calls] == [
        "remove_container",
        "remove_network",
        "remove_volume",
    ]
    assert caplog.messages == [
        "dockerlab: could not remove network n1: network lab has active endpoints; "
        "volume v1: Connection refused"
    ]


@pytest.mark.parametrize(
    ("call", "answers", "kind", "message"),
    [
        (
            lambda e: e.pull("debian:99"),
            {"pull": api_error(500, "dial tcp: no such host")},
            EngineError,
            "engine: pull debian:99 failed: dial tcp: no such host",
        ),
        (
            lambda e: e.pull("debian:99"),
            {"pull": api_error(404, "manifest unknown")},
            ImageNotFoundError,
            "engine: pull debian:99 failed: manifest unknown",
        ),
        (
            # A layer that did not arrive: the engine says so in the pull's stream.
            lambda e: e.pull("127.0.0.1:5000/lab/debian12:abc"),
            {"pull": [{"status": "Pulling fs layer"}, {"error": "unexpected EOF"}]},
            EngineError,
            "engine: pull 127.0.0.1:5000/lab/debian12:abc failed: unexpected EOF",
        ),
        (
            lambda e: e.create_network("lab", {}),
            {"networks": SimpleNamespace(create=FakeAPI(c=connection_refused()).c)},
            EngineLostError,
            "engine: no answer to create network lab: Connection refused",
        ),
        (
            lambda e: e.find({"pytest-dockerlab.session": "s1"}),
            {},
            EngineLostError,
            "engine: no answer to find resources labelled pytest-dockerlab.session=s1: "
            "nothing for 600 s",
        ),
    ],
)
def test_other_operations_raise_engine_errors(
    call: Callable[[DockerEngine], object],
    answers: dict[str, Any],
    kind: type[EngineError],
    message: str,
) -> None:
    client = {k: v for k, v in answers.items() if k != "pull"}
    api = FakeAPI(containers=read_timeout(), **{k: v for k, v in answers.items() if k == "pull"})
    engine = engine_with(api, **client)
    with pytest.raises(EngineError) as info:
        call(engine)
    assert type(info.value) is kind
    assert str(info.value) == message


def test_image_exists_is_false_only_for_a_missing_image() -> None:
    missing = FakeAPI(get=api_error(404, "No such image: debian:99"))
    assert not engine_with(FakeAPI(), images=SimpleNamespace(get=missing.get)).image_exists("d")
    broken = FakeAPI(get=connection_refused())
    with pytest.raises(EngineError):
        engine_with(FakeAPI(), images=SimpleNamespace(get=broken.get)).image_exists("d")


def test_a_build_the_engine_refuses_is_an_image_build_error(tmp_path: Path) -> None:
    def build(**kwargs: Any) -> Any:
        yield {"stream": "Step 1/2 : FROM debian:12\n"}
        raise api_error(500, "Cannot locate specified Dockerfile: Dockerfile", "build")

    engine = engine_with(FakeAPI(build=build))
    with pytest.raises(ImageBuildError) as info:
        engine.build(tmp_path, tmp_path / "Dockerfile", "lab/img:1", {}, {}, lambda _: None)
    assert info.value.cause == "Cannot locate specified Dockerfile: Dockerfile"
    assert info.value.log_tail == "Step 1/2 : FROM debian:12"


class FakeContainer:
    id = "c0ffee"

    def __init__(self, start_error: Exception | None = None) -> None:
        self.start_error = start_error
        self.removed = False
        self.started = False

    def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    def remove(self, force: bool, v: bool) -> None:
        self.removed = True


def test_a_refused_privileged_start_names_the_way_out() -> None:
    refusal = api_error(
        500,
        "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
        "start container process: unable to apply caps: operation not permitted: unknown",
        "containers/lab-priv/start",
    )
    container = FakeContainer(refusal)
    engine = engine_with(
        FakeAPI(create_endpoint_config={}),
        containers=SimpleNamespace(create=lambda *args, **kwargs: container),
    )
    with pytest.raises(HostStartError) as info:
        engine.run_container(
            name="lab-priv",
            image="img",
            hostname="priv",
            labels={},
            profile=choose_profile(EngineFacts(cgroup_version=1), privileged=True),
            environment={},
            settings=ContainerSpec(),
        )
    assert info.value.host == "priv"
    assert info.value.cause.startswith("failed to create shim task")
    assert "drop 'privileged: true' and use the default profile" in info.value.hint
    assert "refuses --privileged" in info.value.hint
    assert container.removed


def test_engine_errors_are_dockerlab_errors() -> None:
    assert issubclass(ContainerGoneError, EngineError)
    assert issubclass(ImageNotFoundError, EngineError)
    assert issubclass(EngineUnavailableError, EngineError)
    assert issubclass(EngineError, DockerlabError)
    unavailable = EngineUnavailableError("unix:///var/run/docker.sock", "Connection refused")
    assert unavailable.cause == "Connection refused"
    assert str(unavailable).startswith(
        "no Docker engine reachable at unix:///var/run/docker.sock (Connection refused)."
    )


# The profile as SDK arguments


def test_cgroup_v2_never_hands_the_container_a_read_only_cgroup() -> None:
    kwargs = _create_kwargs(choose_profile(EngineFacts(cgroup_version=2)))
    assert kwargs["volumes"]["/sys/fs/cgroup"]["mode"] == "rw"


def test_a_refused_capability_names_it_and_the_way_out() -> None:
    # What this sandbox's engine answers to --cap-add SYS_RESOURCE.
    refusal = api_error(
        500,
        "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
        "start container process: unable to apply caps: operation not permitted: unknown",
        "containers/lab-fw/start",
    )
    container = FakeContainer(refusal)
    engine = engine_with(
        FakeAPI(create_endpoint_config={}),
        containers=SimpleNamespace(create=lambda *args, **kwargs: container),
    )
    with pytest.raises(HostStartError) as info:
        engine.run_container(
            name="lab-fw",
            image="img",
            hostname="fw",
            labels={},
            profile=choose_profile(EngineFacts(cgroup_version=1)),
            environment={},
            settings=ContainerSpec(capabilities=("SYS_RESOURCE",)),
        )
    assert str(info.value).endswith(
        "(the engine could not add SYS_RESOURCE; drop from 'capabilities' what it cannot give: "
        "an engine in a sandbox, or a rootless one, can only hand on capabilities it holds)"
    )
    assert container.removed


def test_a_host_joins_every_network_under_its_name_and_aliases_before_it_starts() -> None:
    container = FakeContainer()
    created: dict[str, Any] = {}

    def create(image: str, **kwargs: Any) -> FakeContainer:
        created.update(kwargs, image=image)
        return container

    api: FakeAPI = FakeAPI(
        create_endpoint_config=lambda **kwargs: {"Aliases": kwargs["aliases"]},
        connect_container_to_network=lambda *args, **kwargs: api.calls.append(
            ("aliases", tuple(kwargs["aliases"]))
        ),
    )
    settings = ContainerSpec(
        networks=(NetworkSpec("n-front"), NetworkSpec("n-back", ("gateway",))),
    )
    engine = engine_with(api, containers=SimpleNamespace(create=create))
    cid = engine.run_container(
        name="lab-proxy",
        image="img",
        hostname="proxy",
        labels={"k": "v"},
        profile=choose_profile(EngineFacts(cgroup_version=1)),
        environment={"TZ": "UTC"},
        settings=settings,
    )
    assert cid == "c0ffee"
    assert container.started
    assert created["network"] == "n-front"
    assert created["networking_config"] == {"n-front": {"Aliases": ["proxy"]}}
    assert created["environment"] == {"container": "docker", "TZ": "UTC"}
    assert api.calls[1:] == [
        ("connect_container_to_network", ("c0ffee", "n-back")),
        ("aliases", ("proxy", "gateway")),
    ]


def test_named_volumes_are_created_with_labels() -> None:
    made: dict[str, Any] = {}

    def create(**kwargs: Any) -> Any:
        made.update(kwargs)
        return SimpleNamespace(name=kwargs["name"])

    engine = engine_with(FakeAPI(), volumes=SimpleNamespace(create=create))
    assert engine.create_volume("lab-vol-data", {"pytest-dockerlab.session": "s1"}) == (
        "lab-vol-data"
    )
    assert made == {
        "name": "lab-vol-data",
        "driver": "local",
        "labels": {"pytest-dockerlab.session": "s1"},
    }


def test_a_session_that_only_left_a_volume_is_still_found() -> None:
    session = {"pytest-dockerlab.session": "s1", "pytest-dockerlab.owner-pid": "1"}
    api = FakeAPI(
        containers=[],
        networks=[],
        volumes={"Volumes": [{"Name": "lab-vol-data", "Labels": session}]},
    )
    assert engine_with(api).sessions() == {"s1": session}


# The host's settings on top of the run profile

V1 = choose_profile(EngineFacts(cgroup_version=1))


def test_a_host_without_settings_gets_the_default_limits_and_nothing_else() -> None:
    kwargs = _create_kwargs(V1, ContainerSpec())
    assert kwargs["mem_limit"] == 2 * 1024**3
    assert kwargs["pids_limit"] == 4096
    assert "nano_cpus" not in kwargs
    for absent in ("cap_drop", "ports", "extra_hosts", "ulimits", "command"):
        assert absent not in kwargs
    # Only the profile's own: ::1 on the loopback, as a VM has.
    assert kwargs["sysctls"] == {"net.ipv6.conf.lo.disable_ipv6": "0"}
    assert kwargs["tmpfs"] == dict(V1.tmpfs)
    assert kwargs["volumes"] == {src: dict(spec) for src, spec in V1.volumes.items()}


def test_unlimited_means_no_limit_even_where_the_engine_has_a_default() -> None:
    kwargs = _create_kwargs(V1, ContainerSpec(memory=None, pids_limit=None))
    assert "mem_limit" not in kwargs
    assert kwargs["pids_limit"] == -1


def test_the_hosts_settings_come_on_top_of_the_profile() -> None:
    profile = RunProfile(
        name="p",
        reason="",
        tmpfs={"/run": "exec", "/tmp": "exec"},
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        capabilities=("SYS_ADMIN", "NET_RAW"),
        security_opts=("seccomp={}", "label=disable"),
    )
    settings = ContainerSpec(
        capabilities=("NET_ADMIN", "SYS_ADMIN"),
        cap_drop=("NET_RAW",),
        security_opts=("seccomp=unconfined", "no-new-privileges"),
        tmpfs={"/tmp": "size=64m", "/srv/scratch": ""},
        volumes=(
            Mount("lab-vol-data", "/var/lib/data", "rw", named=True),
            Mount("/home/me/lab/shared", "/srv/shared", "ro,rslave"),
        ),
        published_ports=(
            PublishedPort(80),
            PublishedPort(80, host_port=8080),
            PublishedPort(53, "udp", "0.0.0.0", 5353),
        ),
        sysctls={"net.ipv4.ip_forward": "1"},
        etc_hosts={"db.example.test": "10.1.2.3"},
        ulimits=(Ulimit("nofile", 1024, 4096),),
        command=("/sbin/init", "--log-level=debug"),
        memory=512 * 1024**2,
        cpus=1.5,
        pids_limit=256,
    )
    kwargs = _create_kwargs(profile, settings)
    assert kwargs["tmpfs"] == {"/run": "exec", "/tmp": "size=64m", "/srv/scratch": ""}
    assert kwargs["volumes"] == {
        "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
        "lab-vol-data": {"bind": "/var/lib/data", "mode": "rw"},
        "/home/me/lab/shared": {"bind": "/srv/shared", "mode": "ro,rslave"},
    }
    assert kwargs["cap_add"] == ["SYS_ADMIN", "NET_ADMIN"]  # the dropped NET_RAW is not added
    assert kwargs["cap_drop"] == ["NET_RAW"]
    # the host's seccomp profile replaces the run profile's; other options add up
    assert kwargs["security_opt"] == ["label=disable", "seccomp=unconfined", "no-new-privileges"]
    assert kwargs["ports"] == {
        "80/tcp": [("127.0.0.1", None), ("127.0.0.1", 8080)],
        "53/udp": [("0.0.0.0", 5353)],
    }
    assert kwargs["sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert kwargs["extra_hosts"] == {"db.example.test": "10.1.2.3"}
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in kwargs["ulimits"]] == [
        ("nofile", 1024, 4096)
    ]
    assert kwargs["command"] == ["/sbin/init", "--log-level=debug"]
    assert (kwargs["mem_limit"], kwargs["nano_cpus"], kwargs["pids_limit"]) == (
        512 * 1024**2,
        1_500_000_000,
        256,
    )


def test_a_volume_at_a_profile_tmpfs_replaces_it(tmp_path: Path) -> None:
    (tmp_path / "dockerlab.yml").write_text("hosts:\n  a: {volumes: ['scratch:/tmp']}\n")
    settings = load_lab_file(tmp_path / "dockerlab.yml").hosts["a"].container
    kwargs = _create_kwargs(V1, settings.on_engine(str, lambda v: f"lab-vol-{v}"))
    assert "/tmp" not in kwargs["tmpfs"]
    assert kwargs["volumes"]["lab-vol-scratch"] == {"bind": "/tmp", "mode": "rw"}


def test_an_rlimit_refusal_says_how_to_lower_podmans_default_limits() -> None:
    """Rootful Podman raises nofile/nproc for every container; without CAP_SYS_RESOURCE
    runc refuses (seen on this machine with Podman 4.3)."""
    from pytest_dockerlab.docker_engine import _refusal_hint
    from pytest_dockerlab.profiles import PODMAN
    from pytest_dockerlab.spec import ContainerSpec

    cause = (
        "runc create failed: unable to start container process: error during container init: "
        "error setting rlimits for ready process: error setting rlimit type 7: operation not "
        "permitted: OCI permission denied"
    )
    hint = _refusal_hint(PODMAN, ContainerSpec(), cause)
    assert "default_ulimits in containers.conf" in hint
    assert "CAP_SYS_RESOURCE" in hint


@pytest.mark.parametrize(
    ("ref", "repository", "tag"),
    [
        ("pytest-dockerlab/cache:3e1c3bef0a7f-web", "pytest-dockerlab/cache", "3e1c3bef0a7f-web"),
        ("localhost:5000/x:1", "localhost:5000/x", "1"),  # the port is the registry's
        ("localhost:5000/x", "localhost:5000/x", None),
    ],
)
def test_a_commit_splits_the_tag_from_the_name_not_at_a_port(
    ref: str, repository: str, tag: str | None
) -> None:
    seen: dict[str, Any] = {}

    def commit(container: str, **kwargs: Any) -> dict[str, str]:
        seen.update(kwargs)
        return {"Id": "sha256:made"}

    api = FakeAPI(commit=commit, version={"Components": []})
    engine = engine_with(api, info=lambda: {"CgroupVersion": "1"}, version=lambda: {})
    assert engine.commit("c1", ref, {"a": "b"}) == "sha256:made"
    assert (seen["repository"], seen["tag"]) == (repository, tag)
