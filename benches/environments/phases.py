#!/usr/bin/env python3
"""Where a build's time goes: the seconds between the local platform's phase headers.

Reads `bench-environments --progress ...` output (every phase's output streamed to stderr,
each phase opened by a `===> DETECT` / `RESTORE` / `BUILD` / `EXPORT` header), stamps each line
with the time it arrived, and prints per build the seconds each phase took.

    benches/environments/target/release/bench-environments --root . --progress --only go/hello \
        2>&1 >summary.txt | python3 benches/environments/phases.py [--lines]

(stderr, the phases' output, goes through the pipe; stdout, the harness's summary, to a file.)
"""

from __future__ import annotations

import re
import sys
import time

HEADER = re.compile(r"^===> ([A-Z]+)\s*$")


def main() -> None:
    show_lines = "--lines" in sys.argv[1:]
    start = time.monotonic()
    builds: list[list[tuple[str, float]]] = []
    current: list[tuple[str, float]] | None = None
    last_phase_end = None
    for line in sys.stdin:
        now = time.monotonic() - start
        if show_lines:
            sys.stdout.write(f"{now:8.2f} {line}")
        match = HEADER.match(line.strip())
        if match:
            phase = match.group(1)
            if phase == "DETECT" or current is None:
                current = []
                builds.append(current)
            current.append((phase, now))
        last_phase_end = now
        sys.stdout.flush()
    print("\nPhase seconds per build (a phase ends where the next header, or the next build, starts):")
    for index, build in enumerate(builds):
        next_start = builds[index + 1][0][1] if index + 1 < len(builds) else last_phase_end
        parts = []
        for (phase, begin), following in zip(build, build[1:] + [("END", next_start)]):
            parts.append(f"{phase.lower()} {following[1] - begin:.2f}")
        print(f"  build {index + 1}: " + ", ".join(parts))
    print("(The last phase of a build also holds the harness's own work until the next build: the"
          " `test` process launch, the floor script, the image copy.)")


if __name__ == "__main__":
    main()
