"""The image catalogue on a real engine: offline images boot, run the example, restart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

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
