"""Benchmark of the offline images: build time cold and warm, size, boot-to-ready time.

    ./run bench images [--images NAME...] [--boots N] [--cold N] [--json FILE]

Cold removes the image and its bootstrapped root filesystem first: built in one mmdebstrap
run where the recipe qualifies, else bootstrap + recipe. `--cold N` times N cold builds of
each way in turn, interleaved (one pass; two steps, DOCKERLAB_ONE_PASS=off), and prints
median (min-max) of each. Warm asks again with the image cached. Boot-to-ready is container
start until the init reports ready (`systemctl is-system-running` = running, or SysV's
multi-user runlevel with no rc script left), median of N single-host boots.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dockerlab import labels as lbl
from pytest_dockerlab.docker_engine import DockerEngine
from pytest_dockerlab.engine import Engine
from pytest_dockerlab.exceptions import EngineError
from pytest_dockerlab.images import ImageBuilder, catalogue
from pytest_dockerlab.lab import Lab
from pytest_dockerlab.labels import SessionIdentity
from pytest_dockerlab.spec import load_lab_file

OFFLINE = ["debian11", "debian12", "debian13", "debian12-sysvinit"]


def remove_image_and_rootfs(engine: Engine, name: str, suite: str) -> None:
    """Remove the image, its root filesystem, and what else was built on that (children first)."""
    images = engine.images(lbl.IMAGE)
    rootfs = [i for i in images if i.labels.get(lbl.IMAGE) == f"rootfs-{suite}"]
    rootfs_tags = {t for i in rootfs for t in i.tags}
    for image in images:
        built_on = image.labels.get(f"{lbl.NAMESPACE}.base", "")
        if image.labels.get(lbl.IMAGE) == name or built_on in rootfs_tags:
            remove(engine, image)
    for image in rootfs:
        remove(engine, image)


def remove(engine: Engine, image: Any) -> None:
    """The image, or its tags where converge cache entries were committed on it (the
    engine keeps a parent of other images): either way the next ask builds it again."""
    try:
        engine.remove_image(image.id)
    except EngineError as exc:
        if "dependent child images" not in str(exc):
            raise
        import docker

        client = docker.from_env()
        for tag in image.tags:
            client.images.remove(tag)
        client.close()


def boot_once(engine: Engine, lab_file: Path, tag: str) -> float:
    spec = load_lab_file(lab_file)
    with Lab(spec, engine, catalogue(), SessionIdentity.create(), progress=lambda _: None) as lab:
        failures = lab.start(["h"], {spec.hosts["h"].image: tag})
        assert not failures, failures
        return lab.running["h"].boot_seconds


def spread(times: list[float]) -> str:
    """Median (min-max), in seconds."""
    return f"{statistics.median(times):.1f} s ({min(times):.1f}-{max(times):.1f}, n={len(times)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="*", default=OFFLINE)
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--cold", type=int, default=1, help="cold builds of each way")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = DockerEngine()
    recipes = catalogue()
    builder = ImageBuilder(engine, lambda _: None)
    out = {}
    print(
        f"{'image':<20}{'cold s':>8}{'warm s':>8}{'size MB':>9}{'boot s':>8}"
        f"  (boot: median of {args.boots})"
    )
    for name in args.images:
        recipe = recipes[name]
        colds: dict[str, list[float]] = {"one pass": [], "two steps": []}
        for _ in range(args.cold):
            for way, switch in (("two steps", "off"), ("one pass", "on")):
                os.environ["DOCKERLAB_ONE_PASS"] = switch
                remove_image_and_rootfs(engine, name, recipe.bootstrap)
                t0 = time.perf_counter()
                builder.ensure(recipe)
                colds[way].append(time.perf_counter() - t0)
        os.environ.pop("DOCKERLAB_ONE_PASS")
        cold = statistics.median(colds["one pass"])
        for way, times in colds.items():
            print(f"  {name} cold, {way}: {spread(times)}", flush=True)
        t0 = time.perf_counter()
        builder.ensure(recipe)
        warm = time.perf_counter() - t0
        size = next(i.size for i in engine.images(lbl.IMAGE) if recipe.tag in i.tags) / 1e6
        with tempfile.TemporaryDirectory() as tmp:
            lab_file = Path(tmp) / "dockerlab.yml"
            lab_file.write_text(f"hosts:\n  h: {{image: {name}}}\n")
            boots = [boot_once(engine, lab_file, recipe.tag) for _ in range(args.boots)]
        boot = statistics.median(boots)
        out[name] = {
            "cold_s": cold,
            "cold_one_pass": colds["one pass"],
            "cold_two_steps": colds["two steps"],
            "warm_s": warm,
            "size_mb": size,
            "boot_s": boot,
            "boots": boots,
        }
        print(f"{name:<20}{cold:>8.1f}{warm:>8.3f}{size:>9.0f}{boot:>8.2f}", flush=True)
    engine.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
