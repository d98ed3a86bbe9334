#!/usr/bin/env bash
# Checks that every example buildpack packages, from the workspace root:
#   1. `cargo libcnb package` (libcnb-cargo 0.30.x) packages examples/{nodejs,ruby,go}:
#      buildpack.toml with api = "0.12", an executable bin/build, bin/detect -> build.
#   2. `cargo libcnb package` refuses the buildpacks whose buildpack.toml carries exec-env keys
#      (examples/test-report, examples/composite): libcnb-data's strict parser rejects them, so
#      libcnb-package does not recognise the directories ("No buildpacks found"). Reported, and
#      checked so that a change in that behaviour is noticed.
#   3. Our packager (`cnb-package`, crate libcnb-exec-env-package) packages them with the keys
#      kept byte for byte, the composite with its components, and the root package.toml's URIs
#      point at what it wrote.
#
# Usage: scripts/check-packaging.sh            (from anywhere in the repository)
# Env:   CHECK_PACKAGING_TARGET=<triple>  target for both packagers (default: musl of this arch)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target="${CHECK_PACKAGING_TARGET:-$(uname -m | sed 's/arm64/aarch64/')-unknown-linux-musl}"
# Cargo's target directory as cargo itself resolves it: CARGO_TARGET_DIR, build.target-dir, or
# <workspace>/target (cnb-package writes to <that>/cnb-local).
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
libcnb_out="$target_dir/check-packaging/libcnb"
ours_out="$target_dir/cnb-local"
failures=0

step() { printf '\n=== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}

# check_layout <dir> <expected api>
check_layout() {
    local dir="$1" api="$2"
    [[ -f "$dir/buildpack.toml" ]] || { fail "$dir/buildpack.toml missing"; return; }
    grep -Eq "^api = \"$api\"" "$dir/buildpack.toml" || fail "$dir/buildpack.toml: api is not \"$api\""
    [[ -f "$dir/bin/build" && -x "$dir/bin/build" ]] || fail "$dir/bin/build is not an executable file"
    [[ -L "$dir/bin/detect" && "$(readlink "$dir/bin/detect")" == "build" ]] ||
        fail "$dir/bin/detect is not a link to build"
    [[ -x "$dir/bin/detect" ]] || fail "$dir/bin/detect is not executable"
    if command -v file >/dev/null && [[ "$target" == *-musl ]]; then
        file -L "$dir/bin/build" | grep -q 'statically linked\|static-pie linked' ||
            fail "$dir/bin/build is not statically linked: $(file -L "$dir/bin/build")"
    fi
    ok "$dir: buildpack.toml (api = \"$api\"), bin/build, bin/detect -> build"
}

step "cargo libcnb package (libcnb-cargo): $(cargo libcnb --version 2>/dev/null || echo 'not installed')"
if ! cargo libcnb --version >/dev/null 2>&1; then
    fail "cargo libcnb is not installed: cargo install --locked libcnb-cargo@0.30.4"
else
    rm -rf "$libcnb_out"
    cargo libcnb package --target "$target" --package-dir "$libcnb_out"
    for lang in nodejs ruby go; do
        check_layout "$libcnb_out/$target/debug/examples_$lang" "0.12"
    done

    step "cargo libcnb package and the exec-env keys"
    for id in test-report composite; do
        if [[ -e "$libcnb_out/$target/debug/examples_$id" ]]; then
            fail "cargo libcnb package now packages examples/$id: check whether it keeps the exec-env keys and update docs/packaging.md"
        else
            ok "cargo libcnb package (from the root) skipped examples/$id silently: libcnb-data rejects its exec-env keys"
        fi
    done
    for dir in example-buildpacks/test-report example-buildpacks/examples; do
        set +e
        output="$(cd "$dir" && cargo libcnb package --target "$target" --package-dir "$libcnb_out" 2>&1)"
        status=$?
        set -e
        if [[ $status -ne 0 ]] && grep -q "No buildpacks found" <<<"$output"; then
            ok "cargo libcnb package in $dir refuses it (exit $status, \"No buildpacks found\")"
        else
            fail "cargo libcnb package in $dir: expected the known refusal, got exit $status: $output"
        fi
    done
fi

step "cnb-package (libcnb-exec-env-package): keeps exec-env keys"
packaged="$(cargo run --quiet -p libcnb-exec-env-package --bin cnb-package -- \
    --target "$target" example-buildpacks/test-report example-buildpacks/examples)"
printf '%s\n' "$packaged"
out="$ours_out/$target/debug"
check_layout "$out/examples_test-report" "0.12"
if cmp -s example-buildpacks/test-report/buildpack.toml "$out/examples_test-report/buildpack.toml"; then
    ok "examples/test-report: buildpack.toml copied byte for byte"
else
    fail "examples/test-report: packaged buildpack.toml differs from the source"
fi
grep -Eq '^exec-env = \["test"\]' "$out/examples_test-report/buildpack.toml" ||
    fail "examples/test-report: [buildpack] exec-env lost"
[[ -x "$out/examples_test-report/.libcnb-cargo/additional-bin/test-report" ]] ||
    fail "examples/test-report: additional binary test-report missing"
for lang in nodejs ruby go; do
    check_layout "$out/examples_$lang" "0.12"
done
composite="$out/examples_composite"
if cmp -s example-buildpacks/examples/buildpack.toml "$composite/buildpack.toml"; then
    ok "examples/composite: buildpack.toml copied byte for byte"
else
    fail "examples/composite: packaged buildpack.toml differs from the source"
fi
groups="$(grep -c '^exec-env = \["test"\]' "$composite/buildpack.toml" || true)"
[[ "$groups" == 3 ]] || fail "examples/composite: expected 3 order groups with exec-env, found $groups"
for id in ruby nodejs go test-report; do
    grep -q "uri = \"$out/examples_$id\"" "$composite/package.toml" ||
        fail "examples/composite/package.toml does not point at $out/examples_$id"
done
ok "examples/composite: order groups keep exec-env; package.toml points at the packaged components"

step "root package.toml"
while read -r uri; do
    if [[ -f "$uri/buildpack.toml" ]]; then
        ok "package.toml: $uri"
    elif [[ "$uri" == *"/$target/"* ]]; then
        fail "package.toml: $uri holds no buildpack.toml"
    else
        printf 'note: package.toml names %s (another target than %s): not checked\n' "$uri" "$target"
    fi
done < <(sed -n 's/^uri = "\(.*\)"$/\1/p' package.toml)

step "summary"
if [[ $failures -ne 0 ]]; then
    printf '%d check(s) failed\n' "$failures" >&2
    exit 1
fi
echo "all packaging checks passed"
