"""pytester runs of the plugin that need no engine: options, markers, start-up errors."""

from __future__ import annotations

import pytest

LAB = """
hosts:
  web: {image: debian12, groups: [webservers]}
  db: {image: debian12, groups: [dbservers]}
"""

TESTS = """
import pytest

@pytest.mark.lab("web,db")
def test_both(lab): pass

@pytest.mark.lab("web")
def test_web(lab): pass

@pytest.mark.lab(hosts=["db"])
class TestDb:
    def test_db(self, lab): pass

def test_no_lab(): pass
"""


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def test_options_and_marker_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "pytest-dockerlab: disposable labs of VM-like hosts:",
            "*--dockerlab-file=PATH*",
            "*--dockerlab-keep*",
            "*--dockerlab-boot-timeout=SECONDS*",
            "*--dockerlab-base=*",
            "*dockerlab_file*",
        ]
    )
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.lab(hosts): the lab hosts this test needs*"])


def test_lab_fixture_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["lab -- *", "*The lab hosts this test names*"])


@pytest.mark.parametrize(
    ("args", "selected"),
    [
        ((), "web, db"),
        (("-k", "test_web"), "web"),
        (("-k", "TestDb"), "db"),
        (("-k", "test_no_lab"), "none"),
    ],
)
def test_only_hosts_that_selected_tests_name_are_needed(
    pytester: pytest.Pytester, args: tuple[str, ...], selected: str
) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--collect-only", *args)
    result.stdout.fnmatch_lines([f"dockerlab: hosts needed by the selected tests: {selected}"])


def test_a_test_without_marker_gets_every_host(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile("def test_all(lab): pass")
    result = pytester.runpytest("--collect-only")
    result.stdout.fnmatch_lines(["dockerlab: hosts needed by the selected tests: web, db"])


def test_unknown_host_in_marker_stops_at_collection(
    pytester: pytest.Pytester, no_engine: None
) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.lab("web,cache")
        def test_x(lab): pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*unknown lab host 'cache' in test_unknown_host_in_marker_stops_at_collection.py"
            "::test_x; the lab defines: web, db"
        ]
    )
    result.assert_outcomes()


def test_unreadable_marker_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile("import pytest\n@pytest.mark.lab()\ndef test_x(lab): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: lab marker: names no host*"])


def test_marker_without_lab_file_says_where_to_put_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.lab('web')\ndef test_x(lab): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: uses the lab but no dockerlab.yml was found*"])


def test_explicit_lab_file_that_is_missing(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--dockerlab-file", "labs/nope.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: dockerlab: lab file */labs/nope.yml: file not found"])


def test_lab_file_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndockerlab_file = labs/lab.yml\n")
    (pytester.path / "labs").mkdir()
    (pytester.path / "labs" / "lab.yml").write_text("hosts:\n  only: {}\n")
    pytester.makepyfile("def test_x(lab): pass")
    result = pytester.runpytest("--collect-only")
    result.stdout.fnmatch_lines(
        ["dockerlab: */labs/lab.yml (hosts: only; session [0-9a-f]*)", "*needed*: only"]
    )


def test_malformed_lab_file_names_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  web: {image: debian12\n  db: {}\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: dockerlab: lab file */dockerlab.yml, line 3: not valid YAML: *"]
    )


def test_unknown_image_is_refused_before_anything_starts(
    pytester: pytest.Pytester, no_engine: None
) -> None:
    pytester.makefile(".yml", dockerlab="hosts:\n  web: {image: centos5}\n")
    pytester.makepyfile("def test_x(lab): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*host 'web' uses unknown image 'centos5'; known images: *debian12*"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--dockerlab-boot-timeout", "-1"),
            "*--dockerlab-boot-timeout must be a positive number of seconds, not -1.0",
        ),
        (("--dockerlab-base", "ftp"), "*argument --dockerlab-base: invalid choice: 'ftp'*"),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_no_engine_stops_the_session_with_one_clear_line(
    pytester: pytest.Pytester, no_engine: None
) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: dockerlab: no Docker engine reachable at unix:///nonexistent/docker.sock "
            "(DOCKER_HOST) (no engine socket at /nonexistent/docker.sock). Install and start an "
            "engine: on Debian or Ubuntu 'sudo apt-get install docker.io; sudo systemctl start "
            "docker'*"
        ]
    )
    result.assert_outcomes()


def test_tests_without_lab_run_without_an_engine(
    pytester: pytest.Pytester, no_engine: None
) -> None:
    pytester.makefile(".yml", dockerlab=LAB)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-k", "test_no_lab")
    result.assert_outcomes(passed=1, deselected=3)


def test_missing_playbook_in_lab_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yml", dockerlab="ansible:\n  playbooks: [playbooks/site.yml]\nhosts:\n  web: {}\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: dockerlab: lab file */dockerlab.yml, line *: ansible.playbooks[[]0[]]: "
            "playbook not found: */playbooks/site.yml"
        ]
    )


MATRIX_LAB = """
image: debian12
images: {matrix: [debian11, debian12]}
hosts:
  web: {}
  db: {image: debian12}
"""


def test_matrix_parametrizes_lab_tests_and_ids_show_the_image(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", dockerlab=MATRIX_LAB)
    pytester.makepyfile("def test_x(lab): pass\ndef test_plain(): pass\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_matrix_parametrizes*.py::test_x[[]debian11[]]",
            "test_matrix_parametrizes*.py::test_x[[]debian12[]]",
            "test_matrix_parametrizes*.py::test_plain",
        ]
    )


def test_explicit_image_replaces_the_matrix(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", dockerlab=MATRIX_LAB)
    pytester.makepyfile("def test_x(lab): pass\n")
    result = pytester.runpytest("--collect-only", "-q", "--dockerlab-image", "debian13")
    result.stdout.fnmatch_lines(["*::test_x", "1 test collected*"])


@pytest.mark.parametrize(
    ("args", "env", "lab_text", "message"),
    [
        (
            ("--dockerlab-image", "centos5"),
            None,
            LAB,
            "ERROR: dockerlab: --dockerlab-image centos5: unknown image; known images: *centos6*",
        ),
        ((), "centos5", LAB, "ERROR: dockerlab: DOCKERLAB_IMAGE centos5: unknown image*"),
        (
            (),
            None,
            "images: {matrix: [debian12, suse15]}\nhosts:\n  web: {}\n",
            "ERROR: dockerlab: *images.matrix names unknown image 'suse15'; known images: *",
        ),
    ],
    ids=["option", "environment", "matrix"],
)
def test_unknown_images_are_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: str | None,
    lab_text: str,
    message: str,
) -> None:
    if env:
        monkeypatch.setenv("DOCKERLAB_IMAGE", env)
    pytester.makefile(".yml", dockerlab=lab_text)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_info_without_an_engine_says_so(pytester: pytest.Pytester, no_engine: None) -> None:
    result = pytester.runpytest("--dockerlab-info")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["dockerlab: no Docker engine reachable at unix:///nonexistent*"])
