"""The image catalogue on a real engine: offline images boot, run the example, restart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import pytest_dockerlab
from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.images import ImageBuilder
from pytest_dockerlab.spec import load_recipe

from .conftest import labelled, run

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"
OFFLINE = ["debian11", "debian13", "debian12-sysvinit"]  # debian12: test_converge.py


@pytest.mark.parametrize("image", OFFLINE)
def test_the_example_lab_passes_on_each_offline_image(
    pytester: pytest.Pytester, docker_client: Any, image: str
) -> None:
    """Build (bootstrap + recipe), boot, converge, test, restart with services back."""
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    before = labelled(docker_client)
    # Unclosed pipes of the offline build would surface here as unraisable warnings.
    result = run(
        pytester,
        "examples",
        "--dockerlab-image",
        image,
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
        timeout=1800,
    )
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            f"dockerlab: booted * on {image} in *",
            # The lab file's idempotence pass, on this image too.
            "dockerlab: idempotence pass of site.yml in *s: changed=0 failed=0*",
        ]
    )
    assert labelled(docker_client) == before


def test_a_matrix_runs_each_test_on_each_image(labdir: pytest.Pytester) -> None:
    labdir.makefile(
        ".yml",
        dockerlab="images: {matrix: [debian12, debian12-sysvinit]}\nhosts:\n  web: {}\n",
    )
    labdir.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web")
        def test_init(lab, request):
            image = request.node.callspec.id
            comm = lab.host("web").check_output("cat /proc/1/comm")
            assert comm == ("init" if image.endswith("sysvinit") else "systemd")
            lab.exec("web", "touch /var/tmp/kept", check=True)
            lab.restart("web")
            assert lab.host("web").file("/var/tmp/kept").exists
        """
    )
    result = run(labdir, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*::test_init[[]debian12[]] PASSED*", "*::test_init[[]debian12-sysvinit[]] PASSED*"]
    )


def test_an_image_asked_for_by_name_that_cannot_be_had_is_an_error_before_anything_starts(
    labdir: pytest.Pytester, docker_client: Any
) -> None:
    labdir.makepyfile("def test_x(lab): pass\n")
    before = labelled(docker_client)
    # rockylinux9 has only a registry base; forbidding the registry makes that certain here.
    result = run(labdir, "--dockerlab-image", "rockylinux9", "--dockerlab-base", "bootstrap")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: dockerlab: cannot build image 'rockylinux9': no base image: "
            "the recipe has no base for source 'bootstrap'"
        ]
    )
    assert labelled(docker_client) == before


def test_tests_of_a_host_whose_image_cannot_be_had_skip_with_the_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  web: {}\n  legacy: {image: rockylinux9}\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lab("web")
        def test_web(lab): pass

        @pytest.mark.lab("legacy")
        def test_legacy(lab): raise AssertionError("must not run")
        """
    )
    result = run(pytester, "--dockerlab-base", "bootstrap", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * host legacy: cannot build image 'rockylinux9': no base image: *"]
    )


ONE_PASS_TESTS = """
import pytest

def test_boots_to_running(lab):
    assert lab.exec("node", "systemctl is-system-running").output.strip() == "running"

def test_apt_finds_packages_on_its_first_run(lab):
    # The lists are empty and dated 1970: Ansible's cache_valid_time updates them.
    lab.converge("site.yml")
    assert lab.host("node").package("tree").is_installed
"""
ONE_PASS_PLAY = """
- hosts: all
  tasks:
    - ansible.builtin.apt: {name: tree, cache_valid_time: 3600}
"""


def test_an_offline_image_built_in_one_pass_is_the_two_step_image(
    pytester: pytest.Pytester, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmdebstrap installs the recipe's packages and runs its RUN lines in one run: the
    image holds the packages and settings the same Dockerfile builds on a bootstrapped
    base, boots to running, and apt works on it."""
    recipes = pytester.path / "recipes"
    shipped = Path(pytest_dockerlab.__file__).parent / "recipes"
    shutil.copytree(shipped / "_common", recipes / "_common")
    for name in ("onepass12", "twostep12"):
        shutil.copytree(shipped / "debian12", recipes / name)
    engine, said = DockerEngine(), list[str]()
    try:
        monkeypatch.setenv("DOCKERLAB_ONE_PASS", "off")
        two = ImageBuilder(engine, said.append).ensure(load_recipe(recipes / "twostep12"))
        monkeypatch.delenv("DOCKERLAB_ONE_PASS")
        one = ImageBuilder(engine, said.append).ensure(load_recipe(recipes / "onepass12"))
        started = f"building image onepass12 as {one} in one pass: bookworm with its packages ("
        assert any(line.startswith(started) for line in said), said
        assert not any("twostep12" in line and "one pass" in line for line in said), said
        configs = [docker_client.images.get(tag).attrs["Config"] for tag in (one, two)]
        for key in ("StopSignal", "Cmd", "Env", "Entrypoint"):
            assert configs[0][key] == configs[1][key], key
        what = (
            "dpkg-query -W -f '${Package}\\n'; ls /etc/dpkg/dpkg.cfg.d /etc/apt/apt.conf.d "
            "/etc/systemd/system /etc/apt/sources.list.d; cat /etc/apt/sources.list; "
            "stat -c %Y /var/lib/apt/lists; ls -A /var/lib/apt/lists; readlink /bin"
        )
        seen = [
            docker_client.containers.run(tag, ["sh", "-c", what], entrypoint=[], remove=True)
            for tag in (one, two)
        ]
        assert seen[0] == seen[1]
        assert b"\nsystemd\n" in seen[0] and b"\n0\n" in seen[0]  # lists dated 1970
        pytester.makefile(
            ".yml",
            dockerlab="images: {recipes: [recipes]}\nhosts: {node: {image: onepass12}}\n",
        )
        pytester.makefile(".yml", site=ONE_PASS_PLAY)
        pytester.makepyfile(test_onepass=ONE_PASS_TESTS)
        result = run(pytester, "--dockerlab-cache", "off", timeout=900)
        result.assert_outcomes(passed=2)
    finally:
        for name in ("onepass12", "twostep12"):
            for image in docker_client.images.list(name=f"pytest-dockerlab/{name}"):
                docker_client.images.remove(image.id, force=True)
        engine.close()
