"""What image-level apt/dpkg settings do to the example's cold converge.

    ./run bench coldpath [--runs N] [--json FILE]

Each variant is the debian12 image plus one setting that Debian's official images carry
for speed; the example's site.yml converges fresh hosts of each variant,
interleaved, N times; "adopted" is what the apt recipes carry. The settings (from
debuerreotype's docker-* files):
- dpkg-unsafe-io: dpkg does not fsync each file it unpacks (a throwaway container's disk);
- no-translations: apt fetches no Translation-* indexes;
- gzip-indexes: apt keeps its package lists compressed;
- no-suggests-autoremove: apt may autoremove packages only suggested.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from pytest_dockerlab.converge import Converger
from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.spec import load_lab_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dockerlab.yml"

APT = "/etc/apt/apt.conf.d"
SETTINGS = {
    "dpkg-unsafe-io": "echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/docker-apt-speedup",
    "no-translations": f"echo 'Acquire::Languages \"none\";' > {APT}/docker-no-languages",
    "gzip-indexes": 'printf \'Acquire::GzipIndexes "true";\\n'
    f'Acquire::CompressionTypes::Order:: "gz";\\n\' > {APT}/docker-gzip-indexes',
    "no-suggests-autoremove": "echo 'Apt::AutoRemove::SuggestsImportant \"false\";'"
    f" > {APT}/docker-autoremove-suggests",
}
# The recipes carry some of these now: every variant starts from none of them.
NONE = "rm -f /etc/dpkg/dpkg.cfg.d/docker-apt-speedup " + " ".join(
    f"{APT}/docker-{name}" for name in ("no-languages", "gzip-indexes", "autoremove-suggests")
)
VARIANTS = {
    "none": [NONE],
    **{k: [NONE, v] for k, v in SETTINGS.items()},
    "adopted": [NONE, SETTINGS["dpkg-unsafe-io"], SETTINGS["no-translations"]],
}


def build_variants(engine, base: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    tags = {}
    for name, lines in VARIANTS.items():
        context = Path(tempfile.mkdtemp(prefix="bench-coldpath-"))
        (context / "Dockerfile").write_text(f"FROM {base}\nRUN {' && '.join(lines)}\n")
        tag = f"pytest-dockerlab/bench-coldpath:{name}"
        engine.build(context, context / "Dockerfile", tag, {}, {}, lambda _: None)
        tags[name] = tag
    return tags


def converge(engine, recipes, tag: str) -> float:  # type: ignore[no-untyped-def]
    spec = load_lab_file(EXAMPLE)
    lab = Lab(spec, engine, recipes, SessionIdentity.create(), progress=lambda _: None)
    converger = Converger(lab, spec.ansible, lambda _: None)
    with lab:
        failures = lab.start(["web", "db"], {}, host_images={"web": tag, "db": tag})
        assert not failures, failures
        result = converger.run("playbooks/site.yml", ["web", "db"])
        assert result.ok, result.describe_failure()
        converger.close()
    return result.elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = DockerEngine()
    recipes = catalogue()
    tags = {"debian12": ImageBuilder(engine, lambda _: None).ensure(recipes["debian12"])}
    variants = build_variants(engine, tags["debian12"])
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.runs):
        for name, tag in variants.items():
            started = time.perf_counter()
            times[name].append(converge(engine, recipes, tag))
            whole = time.perf_counter() - started
            print(f"round {round_ + 1} {name}: {times[name][-1]:.1f}s ({whole:.1f}s in all)")
    base = statistics.median(times["none"])
    print(f"\n{'variant':<24}{'median':>9}{'min':>9}{'max':>9}{'vs none':>9}")
    out = {}
    for name, values in times.items():
        median = statistics.median(values)
        out[name] = {"median": median, "min": min(values), "max": max(values), "runs": values}
        print(f"{name:<24}{median:>9.1f}{min(values):>9.1f}{max(values):>9.1f}"
              f"{(median / base - 1) * 100:>8.0f}%")  # fmt: skip
    for tag in variants.values():
        engine.remove_image(tag)
    engine.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
