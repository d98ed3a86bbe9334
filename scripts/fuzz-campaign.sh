#!/bin/sh
# The long fuzzing campaign of docs/fuzzing.md: runs proptest targets in chunks of
# PROPTEST_CASES (default 100000) until TOTAL cases (default 1000000) per target, at nice 19,
# with each chunk's end and duration logged (a chunk is a fresh random seed; a failing chunk
# stops the target and keeps proptest's minimal input in the log).
#
#   scripts/fuzz-campaign.sh <test binary> <target> [<target>...]
#
# Build the binaries first, e.g.
#   cargo test --release -p libcnb-exec-env --test properties --no-run
#   cargo test --release -p libcnb-exec-env-test --lib --no-run
# Env files, `<layer>.toml` and the cache index work in $TMPDIR: a tmpfs (/dev/shm) is faster.
set -eu
binary=$1
shift
chunk=${PROPTEST_CASES:-100000}
total=${TOTAL:-1000000}
for target in "$@"; do
  done_cases=0
  started=$(date +%s)
  while [ "$done_cases" -lt "$total" ]; do
    chunk_started=$(date +%s)
    if ! PROPTEST_CASES=$chunk nice -n 19 "$binary" --exact "$target" --test-threads 1 >"/tmp/fuzz-chunk.$$" 2>&1; then
      echo "$(date -u +%T) $target FAILED after $done_cases cases:"
      cat "/tmp/fuzz-chunk.$$"
      rm -f "/tmp/fuzz-chunk.$$"
      exit 1
    fi
    grep -q "1 passed" "/tmp/fuzz-chunk.$$" || { echo "$target: not run"; cat "/tmp/fuzz-chunk.$$"; exit 1; }
    done_cases=$((done_cases + chunk))
    echo "$(date -u +%T) $target $done_cases cases ($(($(date +%s) - chunk_started)) s this chunk, $(($(date +%s) - started)) s in all)"
  done
  rm -f "/tmp/fuzz-chunk.$$"
done
