#!/usr/bin/env python3
"""Framework overhead: a no-op buildpack on libcnb-exec-env (A) vs the same on plain libcnb (B).

Runs the packaged buildpacks' bin/detect and bin/build as the lifecycle does (working directory
= app dir, arguments <platform> <plan> / <layers> <platform> <plan>, CNB_* variables), many
times, interleaved in a shuffled order within each round so that machine noise hits A and B
alike. Reports per phase the median wall time (process start to exit), the ratio of medians
with a bootstrap 95% interval, the spread of the per-round A/B ratios, and the same ratio above
the process floor (a Rust musl program that exits at once). Optionally counts instructions
under valgrind's callgrind (noise-free). Writes everything as JSON too.

Benchmarks are not tests: nothing here asserts on time; the goals are reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_ENV = {
    "CNB_TARGET_OS": "linux",
    "CNB_TARGET_ARCH": "amd64",
    "CNB_TARGET_DISTRO_NAME": "ubuntu",
    "CNB_TARGET_DISTRO_VERSION": "24.04",
}


class Case:
    """One program run: argv, environment and working directory, plus its timings."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path,
                 fresh_layers: Path | None = None, expect: int = 0):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.fresh_layers = fresh_layers
        self.expect = expect
        self.times_ns: list[int] = []
        self.cpu_ns: list[int] = []

    def prepare(self) -> None:
        # A build gets an empty layers directory each run, made before the clock starts.
        if self.fresh_layers is not None:
            if self.fresh_layers.exists():
                shutil.rmtree(self.fresh_layers)
            self.fresh_layers.mkdir()

    def run_once(self) -> tuple[int, int]:
        """Wall time (spawn to reaped) and CPU time (user + system, from wait4) in ns."""
        self.prepare()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            old = os.getcwd()
            os.chdir(self.cwd)
            try:
                start = time.perf_counter_ns()
                pid = os.posix_spawn(
                    self.argv[0], self.argv, self.env,
                    file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                  (os.POSIX_SPAWN_DUP2, devnull, 2)],
                )
                _, status, usage = os.wait4(pid, 0)
                elapsed = time.perf_counter_ns() - start
            finally:
                os.chdir(old)
        finally:
            os.close(devnull)
        code = os.waitstatus_to_exitcode(status)
        if code != self.expect:
            sys.exit(f"{self.name}: exit code {code}, expected {self.expect}: {' '.join(self.argv)}")
        return elapsed, round((usage.ru_utime + usage.ru_stime) * 1e9)

    def callgrind(self, out_dir: Path) -> int:
        """Instructions executed (callgrind `summary`), children included."""
        self.prepare()
        out = out_dir / f"callgrind.{self.name}.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *self.argv]
        proc = subprocess.run(cmd, env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              check=False)
        if proc.returncode != self.expect:
            sys.exit(f"callgrind {self.name}: exit code {proc.returncode}\n{proc.stderr[-2000:]}")
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            sys.exit(f"callgrind {self.name}: no summary line in {out}")
        return int(match.group(1))


def buildpack_cases(label: str, bp_dir: Path, work: Path, exec_env: str | None) -> tuple[Case, Case]:
    """detect and build of one packaged buildpack, with the lifecycle's inputs."""
    root = work / label
    app = root / "app"
    platform = root / "platform"
    (platform / "env").mkdir(parents=True)
    app.mkdir(parents=True)
    (app / "index.txt").write_text("hello\n")
    detect_plan = root / "detect-plan.toml"
    build_plan = root / "build-plan.toml"
    build_plan.write_text("")
    layers = root / "layers"

    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "CNB_BUILDPACK_DIR": str(bp_dir),
        "CNB_PLATFORM_DIR": str(platform),
        **TARGET_ENV,
    }
    # The lifecycle hands CNB_EXEC_ENV only to buildpacks declaring api >= 0.12: the framework
    # buildpack gets it, the plain libcnb one (api 0.10) does not.
    if exec_env is not None:
        base["CNB_EXEC_ENV"] = exec_env
    detect_env = {**base, "CNB_BUILD_PLAN_PATH": str(detect_plan)}
    build_env = {**base, "CNB_LAYERS_DIR": str(layers), "CNB_BP_PLAN_PATH": str(build_plan)}
    detect = Case(f"{label}-detect", [str(bp_dir / "bin" / "detect"), str(platform), str(detect_plan)],
                  detect_env, app)
    build = Case(f"{label}-build",
                 [str(bp_dir / "bin" / "build"), str(layers), str(platform), str(build_plan)],
                 build_env, app, fresh_layers=layers)
    return detect, build


def median_ms(values: list[int]) -> float:
    return statistics.median(values) / 1e6


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bootstrap_ratio(a: list[int], b: list[int], rounds: int = 2000, seed: int = 7) -> tuple[float, float]:
    """95% interval of median(a)/median(b), resampling rounds (pairs) together."""
    rng = random.Random(seed)
    n = len(a)
    ratios = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(a[i] for i in idx) / statistics.median(b[i] for i in idx))
    return quantile(ratios, 0.025), quantile(ratios, 0.975)


def summarize(a: Case, b: Case, floor: Case) -> dict:
    ma, mb, mf = (statistics.median(c.times_ns) for c in (a, b, floor))
    pair = [x / y for x, y in zip(a.times_ns, b.times_ns)]
    lo, hi = bootstrap_ratio(a.times_ns, b.times_ns)
    above_floor = (ma - mf) / (mb - mf) if mb > mf else float("nan")
    return {
        "framework_median_ms": ma / 1e6,
        "libcnb_median_ms": mb / 1e6,
        "floor_median_ms": mf / 1e6,
        "ratio_of_medians": ma / mb,
        "ratio_ci95": [lo, hi],
        "paired_ratio_median": statistics.median(pair),
        "paired_ratio_p10_p90": [quantile(pair, 0.10), quantile(pair, 0.90)],
        "framework_iqr_ms": [quantile(a.times_ns, 0.25) / 1e6, quantile(a.times_ns, 0.75) / 1e6],
        "libcnb_iqr_ms": [quantile(b.times_ns, 0.25) / 1e6, quantile(b.times_ns, 0.75) / 1e6],
        "ratio_above_floor": above_floor,
        "cpu_framework_median_ms": statistics.median(a.cpu_ns) / 1e6,
        "cpu_libcnb_median_ms": statistics.median(b.cpu_ns) / 1e6,
        "cpu_ratio_of_medians": statistics.median(a.cpu_ns) / max(1, statistics.median(b.cpu_ns)),
        "cpu_ratio_of_means": statistics.fmean(a.cpu_ns) / max(1.0, statistics.fmean(b.cpu_ns)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", type=Path, required=True, help="packaged framework no-op buildpack dir")
    parser.add_argument("--libcnb", type=Path, required=True, help="packaged plain-libcnb no-op buildpack dir")
    parser.add_argument("--floor", type=Path, required=True, help="a program that exits 0 at once")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions with valgrind")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    load_before = float(Path("/proc/loadavg").read_text().split()[0])
    work = Path(tempfile.mkdtemp(prefix="cnb-bench-overhead-"))
    try:
        fw_detect, fw_build = buildpack_cases("framework", args.framework.resolve(), work, "production")
        lc_detect, lc_build = buildpack_cases("libcnb", args.libcnb.resolve(), work, None)
        floor = Case("floor", [str(args.floor.resolve())], {"PATH": "/usr/bin:/bin"}, work)
        cases = [floor, fw_detect, lc_detect, fw_build, lc_build]

        for _ in range(args.warmup):
            for case in cases:
                case.run_once()
        rng = random.Random(12345)
        for _ in range(args.rounds):
            order = cases[:]
            rng.shuffle(order)
            for case in order:
                wall, cpu = case.run_once()
                case.times_ns.append(wall)
                case.cpu_ns.append(cpu)

        results = {
            "rounds": args.rounds,
            "loadavg_before_after": [load_before, float(Path("/proc/loadavg").read_text().split()[0])],
            "detect": summarize(fw_detect, lc_detect, floor),
            "build": summarize(fw_build, lc_build, floor),
        }
        size_a = (args.framework / "bin" / "build").resolve().stat().st_size
        size_b = (args.libcnb / "bin" / "build").resolve().stat().st_size
        results["size"] = {"framework_bytes": size_a, "libcnb_bytes": size_b, "ratio": size_a / size_b}

        if args.callgrind:
            if shutil.which("valgrind") is None:
                print("valgrind not installed: skipping instruction counts (apt-get install valgrind)")
            else:
                counts = {c.name: c.callgrind(work) for c in cases}
                results["instructions"] = {
                    **counts,
                    "detect_ratio": counts["framework-detect"] / counts["libcnb-detect"],
                    "build_ratio": counts["framework-build"] / counts["libcnb-build"],
                }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Framework overhead: {args.rounds} interleaved rounds (shuffled order each round)")
    print(f"  process floor (exit at once): {results['detect']['floor_median_ms']:.3f} ms median")
    for phase in ("detect", "build"):
        r = results[phase]
        print(f"  {phase:6}: framework {r['framework_median_ms']:.3f} ms, libcnb {r['libcnb_median_ms']:.3f} ms;"
              f" ratio of medians {r['ratio_of_medians']:.3f} (95% CI {r['ratio_ci95'][0]:.3f}-{r['ratio_ci95'][1]:.3f});"
              f" paired ratios median {r['paired_ratio_median']:.3f}, p10-p90 {r['paired_ratio_p10_p90'][0]:.3f}-{r['paired_ratio_p10_p90'][1]:.3f};"
              f" above floor {r['ratio_above_floor']:.3f};"
              f" CPU (user+sys) mean ratio {r['cpu_ratio_of_means']:.3f}")
    s = results["size"]
    print(f"  size  : framework {s['framework_bytes']} B, libcnb {s['libcnb_bytes']} B, ratio {s['ratio']:.3f}")
    if "instructions" in results:
        i = results["instructions"]
        print(f"  instructions (callgrind): detect {i['framework-detect']} vs {i['libcnb-detect']} (ratio {i['detect_ratio']:.3f}),"
              f" build {i['framework-build']} vs {i['libcnb-build']} (ratio {i['build_ratio']:.3f}), floor {i['floor']}")
    # The verdict uses the median of the per-round ratios: A and B of one round run back to
    # back, so a load change between rounds cancels out (the ratio of medians does not).
    goal_t = max(results["detect"]["paired_ratio_median"], results["build"]["paired_ratio_median"])
    print(f"  load average during the run: {results['loadavg_before_after'][0]:.2f} -> {results['loadavg_before_after'][1]:.2f}"
          " (on 2 cores, wall times above ~1.5 are noisy: read the paired ratio, CPU and instruction ratios)")
    print(f"  goals : time ratio (median of paired ratios) <= 1.05: {'met' if goal_t <= 1.05 else 'MISSED'} ({goal_t:.3f});"
          f" size ratio <= 1.10: {'met' if s['ratio'] <= 1.10 else 'MISSED'} ({s['ratio']:.3f})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
