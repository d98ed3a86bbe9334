#!/usr/bin/env python3
"""Markdown tables from a results directory of scripts/bench.sh (for BENCHMARKS.md).

Usage: python3 benches/report.py benches/results/latest [more result dirs...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def rng(spread: dict | None) -> str:
    """`median (min–max)` of a ratio over the repetitions."""
    if not spread:
        return "–"
    return f"**{spread['median']:.3f}** ({spread['min']:.3f}–{spread['max']:.3f})"


def overhead(results: dict) -> None:
    # Ratios framework/libcnb as median (min–max) over the repetitions; the time goal is judged
    # on the instruction and CPU-time ratios (wall times move with the machine's load).
    print("| Phase | framework median | libcnb median | instructions ratio | CPU-time ratio (user+sys) |"
          " paired wall ratio | ratio of wall medians |")
    print("|---|---|---|---|---|---|---|")
    instructions = results.get("instructions", {})
    for phase in ("detect", "build"):
        r = results[phase]
        sp = r.get("spread", {})
        ins = instructions.get(phase + "_spread")
        counts = (f" ({instructions.get('framework-' + phase, 0):,} vs {instructions.get('libcnb-' + phase, 0):,})"
                  if ins else "")
        print(f"| {phase} | {r['framework_median_ms']:.3f} ms | {r['libcnb_median_ms']:.3f} ms |"
              f" {rng(ins)}{counts} | {rng(sp.get('cpu_ratio_of_means'))} |"
              f" {rng(sp.get('paired_ratio_median'))} | {rng(sp.get('ratio_of_medians'))} |")
    print()
    print(f"{results.get('repetitions', 1)} repetition(s) of {results['rounds']} rounds; process floor {results['detect']['floor_median_ms']:.3f} ms;"
          f" load average {results.get('loadavg_before_after', ['?', '?'])[0]} → {results.get('loadavg_before_after', ['?', '?'])[1]}.")
    print()
    print("| Binary (`bin/build`) | profile | framework | libcnb | ratio |")
    print("|---|---|---|---|---|")
    for key, name, profile in [("size", "no-op", "release"), ("size_lto", "no-op", "release-lto"),
                               ("size_hello", "minimal real (`hello-*`)", "release"),
                               ("size_hello_lto", "minimal real (`hello-*`)", "release-lto")]:
        if key in results:
            s = results[key]
            print(f"| {name} | {profile} | {s['framework_bytes']:,} B | {s['libcnb_bytes']:,} B | **{s['ratio']:.3f}** |")
    print()


def names(build: dict, key: str) -> str:
    values = [n for n in build.get(key, []) if key != "created" or n not in build.get("uncached", [])]
    return ", ".join(f"`{n}`" for n in values) or "–"


def environments(results: dict) -> None:
    print(f"Engine: {results['engine']}.")
    print()
    for app in results["apps"]:
        runs = app["runs"]
        last = runs[-1]
        print(f"**{app['app']}** ({app['buildpack']}, {app['note']}; {app['repetitions']} repetition(s), medians; ratios median (min–max);"
              f" load average {last['loadavg_before_after'][0]:.1f} → {last['loadavg_before_after'][1]:.1f})")
        print()
        unpack = any(r["builds"][k].get("unpacked") is not None for r in runs for k in r["builds"])
        extra = " image layers unpacked (unchanged) |" if unpack else ""
        print("| Build | time | × cold (min–max) | probes | test pkgs linked |" + extra + " created | restored | retained | uncached (every build) |")
        print("|---|---|---|---|---|---|---|---|---|" + ("---|" if unpack else ""))
        cold = statistics.median(r["builds"]["1_test_cold"]["seconds"] for r in runs)
        for key, label in [("1_test_cold", "1. test, cold"), ("2_production", "2. production"),
                           ("3_test_again", "3. test again"), ("4_test_unchanged", "4. test, unchanged")]:
            seconds = statistics.median(r["builds"][key]["seconds"] for r in runs)
            b = last["builds"][key]
            ratios = [r["builds"][key]["ratio_to_cold"] for r in runs]
            spread = {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)}
            probes = max(r["builds"][key].get("probes", 0) for r in runs)
            linked = max(r["builds"][key].get("tests_linked", 0) for r in runs)
            cell = f" {b.get('unpacked')} ({b.get('unpacked_unchanged')}) |" if unpack else ""
            print(f"| {label} | {seconds:.2f} s | {rng(spread)} | {probes} | {linked} |{cell} {names(b, 'created')} |"
                  f" {names(b, 'restored')} | {names(b, 'retained')} | {names(b, 'uncached')} |")
        platform = statistics.median(r["platform_test_build_and_run_seconds"] for r in runs)
        floor = statistics.median(r["floor_seconds"] for r in runs)
        test = statistics.median(r["test_process_seconds"] for r in runs)
        steps = ", ".join(f"{k} {statistics.median(r['floor_steps_seconds'].get(k, 0) for r in runs):.2f} s"
                          for k in last["floor_steps_seconds"])
        copy = statistics.median(r["image_copy_seconds"] for r in runs)
        # Floors that do the buildpack's runtime install by hand (step `runtime`, newer results)
        # also give the ratio without that step (the figure older results had); older JSON
        # files have neither field and print as before.
        without = ""
        if "runtime" in last["floor_steps_seconds"] and "floor_without_runtime_seconds" in last:
            bare = statistics.median(r["floor_without_runtime_seconds"] for r in runs)
            without = (f"; without the floor's runtime install ({bare:.2f} s):"
                       f" × {rng(app.get('spread', {}).get('platform_to_floor_without_runtime'))}")
        print()
        print(f"Local platform: cold test build {cold:.2f} s + `test` process {test:.2f} s = {platform:.2f} s;"
              f" shell floor {floor:.2f} s ({steps}): × {rng(app.get('spread', {}).get('platform_to_floor'))}{without}."
              f" Image stand-in {last['image_bytes'] / 1e6:.1f} MB; one `cp -a` of it: {copy:.2f} s.")
        print()


def main() -> None:
    for arg in sys.argv[1:]:
        d = Path(arg)
        if (d / "overhead.json").is_file():
            overhead(json.loads((d / "overhead.json").read_text()))
        for name in ["environments.json"] + [f"environments-{e}.json" for e in ("builtin", "lifecycle", "pack")]:
            if (d / name).is_file():
                environments(json.loads((d / name).read_text()))


if __name__ == "__main__":
    main()
