#!/usr/bin/env bash
# Benchmarks of libcnb-exec-env (see BENCHMARKS.md). Benchmarks are not tests: nothing here fails
# on a slow figure; goals are printed as met / MISSED.
#
#   scripts/bench.sh                 default (about 15 minutes on 2 cores): parts 1-4, example apps,
#                                    3 repetitions, ratios as median (min, max)
#   scripts/bench.sh --quick         one repetition, 300 rounds in part 1 (a few minutes)
#   scripts/bench.sh --long          5000 rounds, 3 repetitions, part 5 scale apps (about an hour)
#   scripts/bench.sh --repetitions N (or BENCH_REPETITIONS=N) repetitions of every part
#   scripts/bench.sh overhead        part 1 only (framework vs plain libcnb no-op buildpacks)
#   scripts/bench.sh environments    parts 2-4 (5 with --long or BENCH_ENV_ARGS=--scale)
#   BENCH_ENGINES=lifecycle BENCH_ENV_ARGS="--only go" scripts/bench.sh environments
#   (parts 2-4 run on every engine that runs here: builtin, lifecycle, pack)
#   BENCH_OUT=dir scripts/bench.sh   (results elsewhere than benches/results/latest)
#
# Works with and without CARGO_TARGET_DIR (build outputs are found with `cargo metadata`).
# Results: benches/results/latest/*.json (and the printed summary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/benches/results/latest}"
TARGET=x86_64-unknown-linux-musl
LONG=0
QUICK=0
REPETITIONS="${BENCH_REPETITIONS:-}"
PARTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --long) LONG=1 ;;
    --quick) QUICK=1 ;;
    --repetitions)
      [ $# -ge 2 ] || {
        echo "--repetitions needs a number" >&2
        exit 2
      }
      REPETITIONS="$2"
      shift
      ;;
    overhead | environments) PARTS+=("$1") ;;
    -h | --help)
      sed -n '2,17p' "$0"
      exit 0
      ;;
    *)
      echo "unknown argument: $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
if [ -z "$REPETITIONS" ]; then
  if [ "$QUICK" = 1 ]; then REPETITIONS=1; else REPETITIONS=3; fi
fi
case "$REPETITIONS" in
  '' | *[!0-9]* | 0)
    echo "repetitions must be a positive number, not '$REPETITIONS'" >&2
    exit 2
    ;;
esac
[ ${#PARTS[@]} -eq 0 ] && PARTS=(overhead environments)

# The target directory cargo uses for the workspace of manifest $1 (CARGO_TARGET_DIR, a
# config's build.target-dir, or <workspace>/target).
target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
mkdir -p "$OUT"

machine() {
  echo "== Machine"
  echo "  nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "  $(rustc --version); $(cargo --version)"
  echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$OUT/machine.json" <<'EOF'
import json, os, subprocess, sys
def cmd(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
json.dump({"nproc": os.cpu_count(), "cpu": cpu, "rustc": cmd("rustc", "--version"),
           "node": cmd("node", "--version"), "npm": cmd("npm", "--version"), "go": cmd("go", "version"),
           "ruby": cmd("ruby", "--version"), "valgrind": cmd("valgrind", "--version"),
           "loadavg": open("/proc/loadavg").read().split()[:3]}, open(sys.argv[1], "w"), indent=2)
EOF
}

# Part 1: a no-op buildpack on the framework vs on plain libcnb 0.30, musl release.
overhead() {
  echo "== Part 1: framework overhead (no-op buildpack, $TARGET release)"
  if ! rustc --print target-libdir --target "$TARGET" >/dev/null 2>&1 ||
    [ ! -d "$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" ]; then
    echo "  SKIPPED: Rust target $TARGET is not installed (rustup target add $TARGET)"
    return 0
  fi
  if ! command -v musl-gcc >/dev/null; then
    echo "  SKIPPED: musl-gcc not found (apt-get install musl-tools)"
    return 0
  fi
  local dir="$ROOT/benches/overhead"
  local packaged="$dir/packaged/$TARGET/release"
  local target
  target="$(target_dir "$dir/Cargo.toml")/$TARGET"
  (cd "$dir" && cargo build --quiet --release --target "$TARGET" --workspace)
  if command -v cargo-libcnb >/dev/null; then
    for bp in noop-framework noop-libcnb; do
      (cd "$dir/$bp" && cargo libcnb package --release >/dev/null 2>&1) || {
        echo "  cargo libcnb package failed for $bp" >&2
        exit 1
      }
    done
  else
    # The same layout by hand: bin/build, bin/detect -> build, buildpack.toml.
    for bp in noop-framework noop-libcnb; do
      local dest="$packaged/bench_$bp"
      rm -rf "$dest" && mkdir -p "$dest/bin"
      cp "$target/release/$bp" "$dest/bin/build"
      ln -s build "$dest/bin/detect"
      cp "$dir/$bp/buildpack.toml" "$dest/"
    done
  fi
  local rounds=1000
  [ "$QUICK" = 1 ] && rounds=300
  [ "$LONG" = 1 ] && rounds=5000
  local callgrind=()
  command -v valgrind >/dev/null && callgrind=(--callgrind)
  [ ${#callgrind[@]} -eq 0 ] && echo "  (valgrind not installed: no instruction counts; apt-get install valgrind)"
  python3 "$dir/overhead.py" --framework "$packaged/bench_noop-framework" \
    --libcnb "$packaged/bench_noop-libcnb" --floor "$target/release/noop-floor" \
    --rounds "$rounds" --repetitions "$REPETITIONS" "${callgrind[@]}" --json "$OUT/overhead.json" |
    sed 's/^/  /'

  # Sizes with LTO + one codegen unit, and of a minimal real buildpack (one cached layer with
  # metadata and env, one process) on each; then what the framework binary links twice.
  (cd "$dir" && cargo build --quiet --profile release-lto --target "$TARGET" \
    -p noop-framework -p noop-libcnb -p hello-framework -p hello-libcnb)
  python3 - "$target" "$OUT/overhead.json" <<'EOF'
import json, sys
from pathlib import Path
root = Path(sys.argv[1]); results = json.loads(Path(sys.argv[2]).read_text())
for key, profile, pair in [("size_lto", "release-lto", "noop"), ("size_hello", "release", "hello"),
                           ("size_hello_lto", "release-lto", "hello")]:
    a = (root / profile / f"{pair}-framework").stat().st_size
    b = (root / profile / f"{pair}-libcnb").stat().st_size
    print(f"    size, {pair} buildpack, profile {profile}: framework {a} B, libcnb {b} B, ratio {a / b:.3f}")
    results[key] = {"framework_bytes": a, "libcnb_bytes": b, "ratio": a / b}
Path(sys.argv[2]).write_text(json.dumps(results, indent=2) + "\n")
EOF
  local dups
  # No duplicate is the good case: grep then finds nothing, which must not end the script.
  dups="$(cd "$dir" && cargo tree --quiet -p noop-framework -e normal,no-proc-macro --target "$TARGET" -d --depth 0 2>/dev/null |
    { grep -E '^[a-z]' || true; } | sort -u | tr '\n' ' ')"
  dups="${dups% }"
  echo "    crates linked in two versions into the framework no-op: ${dups:-none}"
}

environments() {
  echo "== Parts 2-5: environments, rebuilds, local-platform overhead, scale"
  for tool in npm go; do
    command -v "$tool" >/dev/null || {
      echo "  SKIPPED: $tool not found (the example buildpacks use the toolchains on PATH)"
      return 0
    }
  done
  (cd "$ROOT/benches/environments" && cargo build --quiet --release)
  local harness
  harness="$(target_dir "$ROOT/benches/environments/Cargo.toml")/release/bench-environments"
  # Every engine that runs here: the built-in engine with $REPETITIONS repetitions (the goals
  # are judged on it), the lifecycle and pack engines beside it with BENCH_OTHER_REPETITIONS
  # (default 1: their builds take tens of seconds each). BENCH_ENGINES picks engines.
  local engine reps
  for engine in ${BENCH_ENGINES:-builtin lifecycle pack}; do
    reps="$REPETITIONS"
    [ "$engine" = builtin ] || reps="${BENCH_OTHER_REPETITIONS:-1}"
    echo "  -- $engine engine ($reps repetition(s))"
    local args=(--root "$ROOT" --json "$OUT/environments-$engine.json" --repetitions "$reps"
      --engine "$engine")
    [ "$LONG" = 1 ] && [ "$engine" = builtin ] && args+=(--long)
    # Extra arguments for the harness (--only go, --no-scale, --progress).
    # shellcheck disable=SC2206
    args+=(${BENCH_ENV_ARGS:-})
    "$harness" "${args[@]}"
  done
}

machine
for part in "${PARTS[@]}"; do
  "$part"
done
echo "== Results in ${OUT#"$ROOT"/}/"
