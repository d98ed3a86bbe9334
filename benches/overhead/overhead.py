#!/usr/bin/env python3
"""Framework overhead: a no-op buildpack on libcnb-exec-env (A) vs the same on plain libcnb (B).

Runs the packaged buildpacks' bin/detect and bin/build as the lifecycle does (working directory
= app dir, arguments <platform> <plan> / <layers> <platform> <plan>, CNB_* variables), many
times, interleaved in a shuffled order within each round so that machine noise hits A and B
alike. Reports per phase the median wall time (process start to exit), the ratio of medians
with a bootstrap 95% interval, the spread of the per-round A/B ratios, and the same ratio above
the process floor (a Rust musl program that exits at once). Optionally counts instructions
under valgrind's callgrind (noise-free). Repeats all of it --repetitions times and prints each
ratio as median (min, max) over the repetitions; the time goal is judged on instructions and
CPU time (user + system), which the machine's load does not move the way it moves wall time.
Writes everything as JSON too.

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


def spread(values: list[float]) -> dict:
    """min / median / max of one ratio over the repetitions."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def fmt_spread(value: dict) -> str:
    return f"{value['median']:.3f} (min {value['min']:.3f}, max {value['max']:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", type=Path, required=True, help="packaged framework no-op buildpack dir")
    parser.add_argument("--libcnb", type=Path, required=True, help="packaged plain-libcnb no-op buildpack dir")
    parser.add_argument("--floor", type=Path, required=True, help="a program that exits 0 at once")
    parser.add_argument("--rounds", type=int, default=1000, help="rounds per repetition")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="independent repetitions (warm-up, rounds, callgrind); ratios get min/median/max")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions with valgrind")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.repetitions < 1 or args.rounds < 1:
        sys.exit("--repetitions and --rounds must be at least 1")
    callgrind = args.callgrind and shutil.which("valgrind") is not None
    if args.callgrind and not callgrind:
        print("valgrind not installed: skipping instruction counts (apt-get install valgrind)")

    load_before = float(Path("/proc/loadavg").read_text().split()[0])
    work = Path(tempfile.mkdtemp(prefix="cnb-bench-overhead-"))
    per_rep: list[dict] = []
    try:
        fw_detect, fw_build = buildpack_cases("framework", args.framework.resolve(), work, "production")
        lc_detect, lc_build = buildpack_cases("libcnb", args.libcnb.resolve(), work, None)
        floor = Case("floor", [str(args.floor.resolve())], {"PATH": "/usr/bin:/bin"}, work)
        cases = [floor, fw_detect, lc_detect, fw_build, lc_build]

        rng = random.Random(12345)
        for _ in range(args.repetitions):
            marks = {case.name: len(case.times_ns) for case in cases}
            for _ in range(args.warmup):
                for case in cases:
                    case.run_once()
            for _ in range(args.rounds):
                order = cases[:]
                rng.shuffle(order)
                for case in order:
                    wall, cpu = case.run_once()
                    case.times_ns.append(wall)
                    case.cpu_ns.append(cpu)
            rep: dict = {}
            for phase, a, b in (("detect", fw_detect, lc_detect), ("build", fw_build, lc_build)):
                ma, mb = marks[a.name], marks[b.name]
                aw, bw = a.times_ns[ma:], b.times_ns[mb:]
                ac, bc = a.cpu_ns[ma:], b.cpu_ns[mb:]
                rep[phase] = {
                    "paired_ratio_median": statistics.median(x / y for x, y in zip(aw, bw)),
                    "ratio_of_medians": statistics.median(aw) / statistics.median(bw),
                    "cpu_ratio_of_means": statistics.fmean(ac) / max(1.0, statistics.fmean(bc)),
                }
            if callgrind:
                counts = {c.name: c.callgrind(work) for c in cases}
                rep["instructions"] = {
                    **counts,
                    "detect_ratio": counts["framework-detect"] / counts["libcnb-detect"],
                    "build_ratio": counts["framework-build"] / counts["libcnb-build"],
                }
            per_rep.append(rep)

        results = {
            "rounds": args.rounds,
            "repetitions": args.repetitions,
            "loadavg_before_after": [load_before, float(Path("/proc/loadavg").read_text().split()[0])],
            # Pooled over every round of every repetition.
            "detect": summarize(fw_detect, lc_detect, floor),
            "build": summarize(fw_build, lc_build, floor),
            "per_repetition": per_rep,
        }
        for phase in ("detect", "build"):
            results[phase]["spread"] = {
                key: spread([rep[phase][key] for rep in per_rep])
                for key in ("paired_ratio_median", "ratio_of_medians", "cpu_ratio_of_means")
            }
        size_a = (args.framework / "bin" / "build").resolve().stat().st_size
        size_b = (args.libcnb / "bin" / "build").resolve().stat().st_size
        results["size"] = {"framework_bytes": size_a, "libcnb_bytes": size_b, "ratio": size_a / size_b}

        if callgrind:
            last = per_rep[-1]["instructions"]
            results["instructions"] = {
                **last,
                "detect_spread": spread([rep["instructions"]["detect_ratio"] for rep in per_rep]),
                "build_spread": spread([rep["instructions"]["build_ratio"] for rep in per_rep]),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Framework overhead: {args.repetitions} repetition(s) of {args.rounds} interleaved rounds"
          " (shuffled order each round); ratios framework/libcnb as median (min, max) over repetitions")
    print(f"  process floor (exit at once): {results['detect']['floor_median_ms']:.3f} ms median")
    for phase in ("detect", "build"):
        r = results[phase]
        sp = r["spread"]
        print(f"  {phase:6}: framework {r['framework_median_ms']:.3f} ms, libcnb {r['libcnb_median_ms']:.3f} ms (wall, all rounds);"
              f" CPU (user+sys) ratio {fmt_spread(sp['cpu_ratio_of_means'])};"
              f" paired wall ratio {fmt_spread(sp['paired_ratio_median'])};"
              f" ratio of wall medians {fmt_spread(sp['ratio_of_medians'])};"
              f" above floor {r['ratio_above_floor']:.3f}")
    s = results["size"]
    print(f"  size  : framework {s['framework_bytes']} B, libcnb {s['libcnb_bytes']} B, ratio {s['ratio']:.3f}")
    if "instructions" in results:
        i = results["instructions"]
        print(f"  instructions (callgrind): detect {i['framework-detect']} vs {i['libcnb-detect']}"
              f" (ratio {fmt_spread(i['detect_spread'])}), build {i['framework-build']} vs {i['libcnb-build']}"
              f" (ratio {fmt_spread(i['build_spread'])}), floor {i['floor']}")
    print(f"  load average during the run: {results['loadavg_before_after'][0]:.2f} -> {results['loadavg_before_after'][1]:.2f}"
          " (wall times move with the load: the verdict reads instructions and CPU time)")
    # The verdict reads what the load does not move: instructions (callgrind, exact) and the
    # CPU time (user + system) of the programs, each the median over the repetitions. Wall
    # times are printed, not judged.
    cpu = max(results[phase]["spread"]["cpu_ratio_of_means"]["median"] for phase in ("detect", "build"))
    verdicts = [f"CPU-time ratio <= 1.05: {'met' if cpu <= 1.05 else 'MISSED'} ({cpu:.3f})"]
    if "instructions" in results:
        ins = max(results["instructions"][f"{phase}_spread"]["median"] for phase in ("detect", "build"))
        verdicts.insert(0, f"instructions ratio <= 1.05: {'met' if ins <= 1.05 else 'MISSED'} ({ins:.3f})")
    else:
        verdicts.insert(0, "instructions ratio: not measured (no valgrind)")
    verdicts.append(f"size ratio <= 1.10: {'met' if s['ratio'] <= 1.10 else 'MISSED'} ({s['ratio']:.3f})")
    print("  goals : " + "; ".join(verdicts))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
