"""How options, environment and ini keys resolve into the plugin's settings."""

from __future__ import annotations

import pytest

from pytest_dockerlab.options import resolve

INI = """
[pytest]
dockerlab_image = debian11
dockerlab_boot_timeout = 30
dockerlab_keep = true
"""


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKERLAB_KEEP", "DOCKERLAB_CACHE", "DOCKERLAB_CACHE_SIZE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("DOCKERLAB_IMAGE", raising=False)
    pytester.makeini(INI)
    return pytester


def test_the_ini_sets_a_project_default(ini: pytest.Pytester) -> None:
    settings = resolve(ini.parseconfig())
    assert (settings.image, settings.boot_timeout, settings.keep) == ("debian11", 30.0, "always")
    assert settings.image_origin == "ini dockerlab_image"


def test_the_environment_beats_the_ini(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "debian13")
    settings = resolve(ini.parseconfig())
    assert (settings.image, settings.image_origin) == ("debian13", "DOCKERLAB_IMAGE")


def test_the_option_beats_the_environment(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "debian13")
    settings = resolve(
        ini.parseconfig("--dockerlab-image", "debian12", "--dockerlab-boot-timeout", "5")
    )
    assert (settings.image, settings.image_origin) == ("debian12", "--dockerlab-image")
    assert settings.boot_timeout == 5.0


def test_an_empty_environment_variable_counts_as_unset(
    ini: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKERLAB_IMAGE", "")
    assert resolve(ini.parseconfig()).image == "debian11"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--dockerlab-boot-timeout", "0"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not 0.0",
        ),
        (
            ("--dockerlab-boot-timeout", "nan"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not nan",
        ),
        (
            ("--dockerlab-boot-timeout", "-3"),
            "--dockerlab-boot-timeout must be a positive number of seconds, not -3.0",
        ),
        (("--dockerlab-image", ""), "--dockerlab-image is empty; name an image or leave it out"),
    ],
)
def test_bad_values_are_usage_errors_naming_where_they_came_from(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(pytest.UsageError, match=message.replace("+", r"\+")):
        resolve(pytester.parseconfig(*args))


def test_a_bad_ini_timeout_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndockerlab_boot_timeout = soon\n")
    with pytest.raises(pytest.UsageError, match="ini dockerlab_boot_timeout must be a positive"):
        resolve(pytester.parseconfig())


def test_an_option_turns_off_nothing_it_was_not_given(ini: pytest.Pytester) -> None:
    settings = resolve(ini.parseconfig("--dockerlab-idempotence"))
    assert settings.idempotence is True
    assert settings.keep == "always"  # from the ini: an unrelated flag leaves it alone


@pytest.mark.parametrize(
    ("args", "keep", "paths"),
    [
        (("--dockerlab-keep",), "always", []),
        (("--dockerlab-keep", "tests"), "always", ["tests"]),
        (("--dockerlab-keep", "on-failure", "tests"), "on-failure", ["tests"]),
        (("--dockerlab-keep=never", "tests"), "never", ["tests"]),
        (("tests", "--dockerlab-keep", "-x"), "always", ["tests"]),
    ],
)
def test_a_bare_keep_means_always_and_leaves_a_path_after_it_alone(
    pytester: pytest.Pytester, args: tuple[str, ...], keep: str, paths: list[str]
) -> None:
    pytester.mkdir("tests")
    config = pytester.parseconfig(*args)
    assert resolve(config).keep == keep
    assert [p.rsplit("/", 1)[-1] for p in config.args if p.endswith("tests")] == paths


def test_a_bare_reuse_means_the_newest_and_leaves_a_path_alone(pytester: pytest.Pytester) -> None:
    pytester.mkdir("tests")
    config = pytester.parseconfig("--dockerlab-reuse", "tests")
    assert resolve(config).reuse == "newest"
    assert config.args[-1].endswith("tests")
    assert resolve(pytester.parseconfig("--dockerlab-reuse", "0a1b2c3d")).reuse == "0a1b2c3d"


@pytest.mark.parametrize(
    ("ini_line", "env", "args", "expected"),
    [
        ("dockerlab_keep = on-failure", None, (), "on-failure"),
        ("dockerlab_keep = false", None, (), "never"),
        ("dockerlab_keep = on-failure", "always", (), "always"),
        ("dockerlab_keep = always", "on-failure", ("--dockerlab-keep=never",), "never"),
    ],
)
def test_keep_resolves_option_then_environment_then_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini_line: str,
    env: str | None,
    args: tuple[str, ...],
    expected: str,
) -> None:
    pytester.makeini(f"[pytest]\n{ini_line}\n")
    if env:
        monkeypatch.setenv("DOCKERLAB_KEEP", env)
    assert resolve(pytester.parseconfig(*args)).keep == expected


@pytest.mark.parametrize(
    ("ini_line", "args", "message"),
    [
        ("dockerlab_keep = sometimes", (), "ini dockerlab_keep must be one of always, on-failure"),
        ("", ("--dockerlab-keep=sometimes",), "--dockerlab-keep must be one of always"),
        ("dockerlab_cache = maybe", (), "ini dockerlab_cache must be one of on, off, refresh"),
        ("dockerlab_cache_size = lots", (), "ini dockerlab_cache_size must be a size such as 10G"),
        ("", ("--dockerlab-reuse=web",), "--dockerlab-reuse takes a session id"),
    ],
)
def test_bad_keep_cache_and_reuse_values_name_where_they_came_from(
    pytester: pytest.Pytester, ini_line: str, args: tuple[str, ...], message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini_line}\n")
    with pytest.raises(pytest.UsageError, match=message):
        resolve(pytester.parseconfig(*args))


def test_the_cache_is_on_by_default_and_the_environment_beats_the_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve(pytester.parseconfig()).cache == "on"
    pytester.makeini("[pytest]\ndockerlab_cache = off\ndockerlab_cache_size = 500M\n")
    settings = resolve(pytester.parseconfig())
    assert (settings.cache, settings.cache_max_bytes) == ("off", 500 * 1024**2)
    monkeypatch.setenv("DOCKERLAB_CACHE", "refresh")
    assert resolve(pytester.parseconfig()).cache == "refresh"
    assert resolve(pytester.parseconfig("--dockerlab-cache", "on")).cache == "on"


@pytest.mark.parametrize(
    ("ini_line", "env", "args", "expected"),
    [
        ("dockerlab_keep = always", None, ("--no-dockerlab-keep",), ("never", "on", False)),
        ("", "always", ("--no-dockerlab-keep",), ("never", "on", False)),
        ("dockerlab_cache = refresh", None, ("--no-dockerlab-cache",), ("never", "off", False)),
        (
            "dockerlab_idempotence = true",
            None,
            ("--no-dockerlab-idempotence",),
            ("never", "on", False),
        ),
        ("dockerlab_idempotence = true", None, (), ("never", "on", True)),
    ],
)
def test_a_no_option_turns_off_what_the_ini_or_environment_turned_on(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini_line: str,
    env: str | None,
    args: tuple[str, ...],
    expected: tuple[str, str, bool],
) -> None:
    pytester.makeini(f"[pytest]\n{ini_line}\n")
    if env is not None:
        monkeypatch.setenv("DOCKERLAB_KEEP", env)
    settings = resolve(pytester.parseconfig(*args))
    assert (settings.keep, settings.cache, settings.idempotence) == expected


def test_artifacts_resolve_option_then_environment_then_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKERLAB_ARTIFACTS", raising=False)
    pytester.makeini("[pytest]\ndockerlab_artifacts = reports/lab\n")
    assert resolve(pytester.parseconfig()).artifacts == pytester.path / "reports" / "lab"
    monkeypatch.setenv("DOCKERLAB_ARTIFACTS", "/tmp/from-env")
    assert str(resolve(pytester.parseconfig()).artifacts) == "/tmp/from-env"
    option = resolve(pytester.parseconfig("--dockerlab-artifacts", "/tmp/from-option"))
    assert str(option.artifacts) == "/tmp/from-option"


def test_an_artifacts_folder_that_cannot_be_written_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKERLAB_ARTIFACTS", raising=False)
    (pytester.path / "a-file").write_text("")
    with pytest.raises(pytest.UsageError, match=r"--dockerlab-artifacts a-file/lab: .*a-file is "
                       "not a folder this user can write to"):  # fmt: skip
        resolve(pytester.parseconfig("--dockerlab-artifacts", "a-file/lab"))


@pytest.mark.parametrize("named", ["molecule", ".", "extensions/molecule", "extensions"])
def test_a_folder_of_scenarios_is_taken_as_molecules_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    """A role's molecule/, a collection's extensions/molecule, or the project above them."""
    under = "extensions/molecule" if named.startswith("extensions") else "molecule"
    for name in ("lh", "default"):
        (pytester.path / under / name).mkdir(parents=True)
        (pytester.path / under / name / "molecule.yml").write_text("platforms: []\n")
    monkeypatch.chdir(pytester.path)
    settings = resolve(pytester.parseconfig("--dockerlab-molecule", named))
    assert settings.molecule == (pytester.path / named).resolve()


def test_a_folder_without_scenarios_says_where_it_looked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "molecule" / "default").mkdir(parents=True)
    monkeypatch.chdir(pytester.path)
    with pytest.raises(pytest.UsageError, match=r"--dockerlab-molecule molecule: no molecule.yml "
                       r"in .*/molecule, nor in a scenario folder under it \(molecule/\*, "
                       r"extensions/molecule/\*\)"):  # fmt: skip
        resolve(pytester.parseconfig("--dockerlab-molecule", "molecule"))


def test_a_folder_of_scenarios_collects_each_scenarios_items_with_its_own_variables(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collected only (no engine): every scenario's items, its testinfra tests imported with
    its own MOLECULE_* variables and parametrized on its own platforms; a platform image no
    recipe names gets a recipe of its own; one that cannot run is an item; a bad image and
    --dockerlab-reuse are refused at start."""
    molecule = pytester.path / "molecule"
    for name, platforms in (("alpha", "[{name: a_1, image: debian:12}]"),
                            ("beta", "[{name: b, image: quay.io/acme/os:1}]"),
                            ("broken", "{}")):  # fmt: skip
        (molecule / name / "tests").mkdir(parents=True)
        (molecule / name / "molecule.yml").write_text(
            f"platforms: {platforms}\nverifier: {{name: testinfra}}\n"
        )
        (molecule / name / "converge.yml").write_text("- hosts: all\n  tasks: []\n")
        (molecule / name / "tests" / f"test_{name}.py").write_text(
            "import os\n"
            f"assert os.environ['MOLECULE_SCENARIO_NAME'] == {name!r}\n"
            "def test_it(host):\n    pass\n"
        )
    monkeypatch.chdir(pytester.path)
    result = pytester.runpytest("--dockerlab-molecule", "molecule", "--collect-only", "-q")
    result.stdout.fnmatch_lines_random(
        [
            "molecule/alpha/molecule.yml::converge",
            "molecule/alpha/tests/test_alpha.py::test_it[[]ansible://a_1[]]",
            "molecule/beta/molecule.yml::converge",
            "molecule/beta/tests/test_beta.py::test_it[[]ansible://b[]]",
            "molecule/broken/molecule.yml::converge",
        ]
    )
    assert result.ret == pytest.ExitCode.OK
    assert (molecule / "beta" / ".dockerlab" / "images" / "molecule-quay-io-acme-os-1").is_dir()
    bad = pytester.runpytest("--dockerlab-molecule", "molecule", "--dockerlab-image", "nope")
    bad.stderr.fnmatch_lines(["*--dockerlab-image nope: unknown image*"])
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


SHARDED = """
import pytest

@pytest.mark.lab("a")
def test_a1(lab): pass

@pytest.mark.lab("a,b")
def test_ab(lab): pass

@pytest.mark.lab("b")
def test_b(lab): pass

@pytest.mark.lab("c")
def test_c(lab): pass

@pytest.mark.lab("d")
@pytest.mark.parametrize("n", range(2))
def test_d(lab, n): pass

def test_no_host(): pass
"""


def test_shards_partition_the_suite_by_whole_labs(pytester: pytest.Pytester) -> None:
    """--dockerlab-shard I/N (collected only, no engine): the shards together are the
    suite, no test in two, and the tests that share hosts (a, a+b, b) in one shard."""
    pytester.makefile(".yml", dockerlab="hosts: {a: {}, b: {}, c: {}, d: {}}\n")
    pytester.makepyfile(test_sharded=SHARDED)
    every = set(_collected(pytester))
    found = [set(_collected(pytester, "--dockerlab-shard", f"{i}/3")) for i in (1, 2, 3)]
    assert set().union(*found) == every and sum(map(len, found)) == len(every)
    lab = {"test_sharded.py::test_a1", "test_sharded.py::test_ab", "test_sharded.py::test_b"}
    assert any(lab <= shard for shard in found)
    bad = pytester.runpytest("--dockerlab-shard", "4/3", "--collect-only")
    bad.stderr.fnmatch_lines(["*--dockerlab-shard 4/3: write I/N, shard I of N counted from 1*"])


def test_a_shard_left_with_no_lab_passes_and_says_so(pytester: pytest.Pytester) -> None:
    """``dockerlab matrix --shards 6`` lists six shards for a suite of four labs: the two
    with no lab pass (pytest alone would exit 5, no tests ran), saying why."""
    pytester.makefile(".yml", dockerlab="hosts: {a: {}, b: {}}\n")
    pytester.makepyfile(
        test_two="import pytest\n\n@pytest.mark.lab('a')\ndef test_a(lab): pass\n\n"
        "@pytest.mark.lab('b')\ndef test_b(lab): pass\n"
    )
    result = pytester.runpytest(
        "--dockerlab-shard", "3/3", "--collect-only", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*shard 3/3 holds no lab: the suite's 2 labs went to the other shards*"]
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--dockerlab-durations", "/proc/version"],
            "*--dockerlab-durations /proc/version: it is not JSON*",
        ),
        (
            ["--dockerlab-durations", "no/such/d.json"],
            "*--dockerlab-durations no/such/d.json: its folder * does not exist*",
        ),
        (["--dockerlab-engines="], "*--dockerlab-engines is empty: name the engines of the pool*"),
        (["--dockerlab-engines", "default:x"], "*'default:x' is no engine*"),
    ],
)
def test_a_bad_durations_file_or_pool_is_refused_before_any_test(
    pytester: pytest.Pytester, args: list[str], said: str
) -> None:
    pytester.makefile(".yml", dockerlab="hosts: {a: {}}\n")
    pytester.makepyfile(test_one="def test_a(lab): pass\n")
    result = pytester.runpytest(*args, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([said])


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return [line for line in result.outlines if "::" in line]


def test_only_the_scenarios_own_tests_are_collected_under_their_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Molecule's own fixtures: a shared verifier's test file beside the scenarios (its
    import needs paramiko) aborted the session before any lab booted."""
    for name in ("alpha", "beta"):
        (pytester.path / "molecule" / name / "tests").mkdir(parents=True)
        (pytester.path / "molecule" / name / "molecule.yml").write_text(
            f"platforms: [{{name: {name}, image: debian:12}}]\nverifier: {{name: testinfra}}\n"
        )
        (pytester.path / "molecule" / name / "converge.yml").write_text("- hosts: all\n")
        (pytester.path / "molecule" / name / "tests" / "test_it.py").write_text(
            "def test_it(host):\n    pass\n"
        )
    (pytester.path / "molecule" / "shared").mkdir()
    (pytester.path / "molecule" / "shared" / "test_shared.py").write_text(
        "raise RuntimeError('You must install paramiko package')\n"
    )
    (pytester.path / "test_mine.py").write_text("def test_mine():\n    pass\n")
    monkeypatch.chdir(pytester.path)
    result = pytester.runpytest("--dockerlab-molecule", "molecule/alpha", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    collected = [line for line in result.outlines if "::" in line]
    assert collected == [
        "molecule/alpha/molecule.yml::converge",
        "molecule/alpha/molecule.yml::idempotence",
        "molecule/alpha/tests/test_it.py::test_it[ansible://alpha]",
        "test_mine.py::test_mine",  # the project's own tests are the user's to run
    ]
