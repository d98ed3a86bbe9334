#!/usr/bin/env bash
# Makes a local CNB builder with the example buildpacks, on a machine that can reach package
# registries but no container registry (Debian 12, root or sudo):
#
#   scripts/local-builder.sh                 # from anywhere in the repository
#   . ~/.cache/libcnb-exec-env/builder.env   # DOCKER_HOST, CNB_PACK, PACK_HOME, CNB_PACK_BUILDER
#   "$CNB_PACK" build app --builder "$CNB_PACK_BUILDER" --exec-env test --pull-policy never \
#       --docker-host inherit --network host --path example-apps/go/hello
#   scripts/docker-engine.sh stop            # stops the Docker engine if this script started it
#
# Steps (each reused when already done; a second run takes seconds):
#   1. Docker engine: scripts/docker-engine.sh start (Debian's docker.io on its own socket when no
#      engine is reachable).
#   2. Base images from Debian packages (debootstrap + docker import, then `docker build`):
#      local/cnb-build:bookworm (ruby, bundler, golang-go, git, curl, ...) and
#      local/cnb-run:bookworm (ruby, ruby-bundler, libatomic1: Node.js binaries need it), stack io.buildpacks.stacks.bookworm, user cnb (1000:1000).
#      Rebuilt only when their recipe (Dockerfile, CA files, base image) changes.
#   3. The lifecycle (scripts/install-lifecycle.sh) as a release-layout tarball for builder.toml.
#   4. pack v0.40.6, built from its Go module (waits for a build of it already running).
#   5. The example composite, packaged with cnb-package (musl) and `pack buildpack package`.
#   6. `pack builder create local/examples-builder:bookworm`, trusted in $PACK_HOME.
#   7. Writes the exports to $CACHE/builder.env and prints them.
#
# Everything goes under CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env: docker/ (engine),
# pack/, lifecycle/, images/ (rootfs tarball, Dockerfiles), builder/ (.cnb, lifecycle tarball,
# builder.toml), pack-home/ (PACK_HOME: pack's config, so ~/.pack is left alone).
#
# Env: LIBCNB_DEBIAN_MIRROR (default: the mirror of /etc/apt/sources.list*, else deb.debian.org),
#      LIBCNB_PACK_VERSION (default 0.40.6), CNB_LIFECYCLE_VERSION (default v0.21.11).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env"
pack_version="${LIBCNB_PACK_VERSION:-0.40.6}"
lifecycle_version="${CNB_LIFECYCLE_VERSION:-v0.21.11}"
suite=bookworm
stack_id=io.buildpacks.stacks.bookworm
base_image=local/cnb-base:$suite
build_image=local/cnb-build:$suite
run_image=local/cnb-run:$suite
builder_image=local/examples-builder:$suite
target=x86_64-unknown-linux-musl
recipe_label=io.libcnb-exec-env.recipe
build_packages=(ruby ruby-bundler golang-go git ca-certificates curl tar gzip xz-utils libatomic1)
# The run image needs Bundler too: the Ruby example's web and test processes run `bundle exec`.
run_packages=(ruby ruby-bundler ca-certificates libatomic1)

start=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - start))" "$*" >&2; }
say() { printf '    %s\n' "$*" >&2; }
die() {
    printf 'local-builder: error: %s\n' "$*" >&2
    exit 1
}

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

apt_install() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    say "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

sha() { sha256sum | cut -c1-64; }

image_label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

mkdir -p "$cache"

# --- 1. Docker engine ----------------------------------------------------------------------------
step "Docker engine"
"$repo/scripts/docker-engine.sh" start
eval "$("$repo/scripts/docker-engine.sh" env)"
say "DOCKER_HOST=$DOCKER_HOST"

# --- 2. Base images -------------------------------------------------------------------------------
step "Base images ($build_image, $run_image)"
images="$cache/images"
mkdir -p "$images"
# The base: a minbase Debian rootfs, imported. Its recipe is the suite, the package list and the
# debootstrap version; the tarball is kept, so a lost image is re-imported in seconds.
base_packages=ca-certificates
base_recipe="$(printf '%s %s %s' "$suite" "$base_packages" "$(dpkg-query -W -f '${Version}' debootstrap 2>/dev/null || true)" | sha)"
rootfs_tar="$images/rootfs-$suite-${base_recipe:0:12}.tar"
if [[ "$(image_label "$base_image" "$recipe_label")" != "$base_recipe" ]]; then
    if [[ ! -s "$rootfs_tar" ]]; then
        apt_install debootstrap
        mirror="${LIBCNB_DEBIAN_MIRROR:-}"
        if [[ -z "$mirror" ]]; then
            # deb822 "URIs:" or one-line "deb <uri> bookworm": the first main Debian archive.
            mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
                awk '/^URIs:/ { print $2 } /^deb / { print ($2 ~ /^\[/ ? $3 : $2) }' |
                grep -E '/debian/?$' | head -n1 || true)"
        fi
        mirror="${mirror:-http://deb.debian.org/debian}"
        say "debootstrap $suite from $mirror (a few minutes)"
        rootfs="$images/rootfs-$suite.partial"
        $SUDO rm -rf "$rootfs"
        $SUDO debootstrap --variant=minbase --include="$base_packages" "$suite" "$rootfs" "$mirror" \
            >"$images/debootstrap.log" 2>&1 || {
            tail -n 20 "$images/debootstrap.log" >&2
            die "debootstrap $suite from $mirror failed (log: $images/debootstrap.log)"
        }
        $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        $SUDO tar -C "$rootfs" --numeric-owner -cf "$rootfs_tar.partial" .
        $SUDO rm -rf "$rootfs"
        mv "$rootfs_tar.partial" "$rootfs_tar"
        for old in "$images"/rootfs-"$suite"-*.tar; do
            [[ "$old" == "$rootfs_tar" ]] || rm -f "$old"
        done
    fi
    say "docker import $rootfs_tar -> $base_image"
    docker import --change "LABEL $recipe_label=$base_recipe" "$rootfs_tar" "$base_image" >/dev/null ||
        die "docker import of $rootfs_tar failed"
fi
base_id="$(docker image inspect -f '{{.Id}}' "$base_image")"

# build_stack_image <image> <Dockerfile name> <packages...>
build_stack_image() {
    local image="$1" name="$2"
    shift 2
    local ctx="$images/$name"
    rm -rf "$ctx"
    mkdir -p "$ctx/ca"
    local ca_step=""
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        # Registry traffic here passes a proxy whose CA the host trusts: the images trust it too.
        cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/"
        ca_step='COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates'
    fi
    cat >"$ctx/Dockerfile" <<EOF
FROM $base_image
$ca_step
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $* \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
RUN groupadd --gid 1000 cnb \\
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash cnb
ENV CNB_USER_ID=1000 CNB_GROUP_ID=1000 CNB_STACK_ID=$stack_id
LABEL io.buildpacks.stack.id="$stack_id" \\
      io.buildpacks.base.distro.name="debian" \\
      io.buildpacks.base.distro.version="12"
USER 1000:1000
EOF
    local recipe
    recipe="$( (
        echo "$base_id"
        cat "$ctx/Dockerfile"
        cat "$ctx"/ca/* 2>/dev/null || true
    ) | sha)"
    if [[ "$(image_label "$image" "$recipe_label")" == "$recipe" ]]; then
        say "$image: up to date"
        return 0
    fi
    say "docker build $image ($*)"
    DOCKER_BUILDKIT=0 docker build --network host --label "$recipe_label=$recipe" -t "$image" "$ctx" \
        >"$ctx/build.log" 2>&1 || {
        tail -n 30 "$ctx/build.log" >&2
        die "docker build of $image failed (log: $ctx/build.log)"
    }
}
build_stack_image "$build_image" build "${build_packages[@]}"
build_stack_image "$run_image" run "${run_packages[@]}"

# --- 3. Lifecycle tarball -------------------------------------------------------------------------
step "Lifecycle $lifecycle_version (release layout for builder.toml)"
lifecycle_dir="$(CNB_LIFECYCLE_VERSION="$lifecycle_version" "$repo/scripts/install-lifecycle.sh")" ||
    die "scripts/install-lifecycle.sh failed"
builder_dir="$cache/builder"
mkdir -p "$builder_dir"
lifecycle_tgz="$builder_dir/lifecycle-$lifecycle_version.tgz"
if [[ ! -s "$lifecycle_tgz" || "$lifecycle_dir/lifecycle" -nt "$lifecycle_tgz" ]]; then
    lc="$(mktemp -d)"
    mkdir "$lc/lifecycle"
    cp "$lifecycle_dir/lifecycle" "$lifecycle_dir/launcher" "$lc/lifecycle/"
    for phase in detector analyzer restorer builder exporter rebaser creator extender; do
        ln -s lifecycle "$lc/lifecycle/$phase"
    done
    # The APIs lifecycle v0.21.x supports (github.com/buildpacks/lifecycle api/apis.go).
    cat >"$lc/lifecycle.toml" <<EOF
[apis.buildpack]
deprecated = []
supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"]

[apis.platform]
deprecated = []
supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15"]

[lifecycle]
version = "${lifecycle_version#v}"
EOF
    tar -C "$lc" --owner=0 --group=0 --numeric-owner -czf "$lifecycle_tgz.partial" lifecycle.toml lifecycle
    rm -rf "$lc"
    mv "$lifecycle_tgz.partial" "$lifecycle_tgz"
    say "wrote $lifecycle_tgz"
else
    say "$lifecycle_tgz: up to date"
fi

# --- 4. pack ------------------------------------------------------------------------------------
step "pack $pack_version (from its Go module)"
pack="$cache/pack/v$pack_version/pack"
if [[ ! -x "$pack" ]] || pgrep -f "go build.*-o $pack( |$)" >/dev/null; then
    # Someone (another run, the CI) may be building it right now: wait instead of building twice
    # (and until it is done: go build writes the -o file in place, not atomically).
    waited=0
    while pgrep -f "go build.*-o $pack( |$)" >/dev/null; do
        ((waited % 30 == 0)) && say "waiting for the pack build that is running (-o $pack)"
        ((waited < 1800)) || die "the running pack build did not finish within 30 minutes"
        sleep 5
        waited=$((waited + 5))
    done
fi
if [[ ! -x "$pack" ]]; then
    command -v go >/dev/null || die "go is not on PATH: pack is built from its Go module"
    say "building pack (several minutes)"
    work="$(mktemp -d)"
    mkdir -p "$(dirname "$pack")"
    (
        cd "$work"
        printf 'module pack-install\n\ngo 1.24\n' >go.mod
        go get "github.com/buildpacks/pack@v$pack_version" >&2
        CGO_ENABLED=0 go build -trimpath \
            -ldflags "-s -w -X 'github.com/buildpacks/pack/pkg/client.Version=$pack_version'" \
            -o "$pack.partial" github.com/buildpacks/pack >&2
    ) || {
        rm -rf "$work"
        die "building pack v$pack_version from github.com/buildpacks/pack failed"
    }
    rm -rf "$work"
    mv "$pack.partial" "$pack"
fi
"$pack" --version >/dev/null || die "$pack does not run"
say "$pack ($("$pack" --version))"
export PACK_HOME="$cache/pack-home"
mkdir -p "$PACK_HOME"

# --- 5. The example buildpacks --------------------------------------------------------------------
step "Example buildpacks (cnb-package --target $target, pack buildpack package)"
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >&2 ||
    die "rustup target add $target failed"
command -v musl-gcc >/dev/null || apt_install musl-tools
packaged_root="$builder_dir/packaged"
(cd "$repo" && cargo run --quiet --locked -p libcnb-exec-env-package --bin cnb-package -- \
    --quiet --target "$target" --package-dir "$packaged_root" example-buildpacks/examples) >/dev/null ||
    die "cnb-package failed to package example-buildpacks/examples"
composite="$packaged_root/$target/debug/examples_composite"
[[ -f "$composite/package.toml" ]] || die "cnb-package wrote no $composite/package.toml"
# What the .cnb is made of: every packaged file (content, mode, link target).
packaged_hash="$(cd "$packaged_root/$target/debug" && find . \( -type f -o -type l \) -print0 | sort -z |
    while IFS= read -r -d '' f; do
        if [[ -L "$f" ]]; then printf '%s -> %s\n' "$f" "$(readlink "$f")"; else
            printf '%s %s %s\n' "$f" "$(stat -c %a "$f")" "$(sha256sum <"$f" | cut -c1-64)"
        fi
    done | sha)"
cnb="$builder_dir/examples-composite.cnb"
if [[ -s "$cnb" && "$(cat "$cnb.hash" 2>/dev/null)" == "$packaged_hash" ]]; then
    say "$cnb: up to date"
else
    rm -f "$cnb" "$cnb.hash"
    "$pack" buildpack package "$cnb" --config "$composite/package.toml" --format file >&2 ||
        die "pack buildpack package $cnb failed"
    echo "$packaged_hash" >"$cnb.hash"
fi

# --- 6. Builder -----------------------------------------------------------------------------------
step "Builder $builder_image"
cat >"$builder_dir/builder.toml" <<EOF
# Written by scripts/local-builder.sh.
description = "libcnb-exec-env example buildpacks on Debian $suite (local images)"

[[buildpacks]]
uri = "$cnb"

[[order]]
[[order.group]]
id = "examples/composite"
version = "0.1.0"

[lifecycle]
uri = "$lifecycle_tgz"

[build]
image = "$build_image"

[run]
[[run.images]]
image = "$run_image"

[stack]
id = "$stack_id"
build-image = "$build_image"
run-image = "$run_image"

[[targets]]
os = "linux"
arch = "amd64"
[[targets.distros]]
name = "debian"
version = "12"
EOF
builder_recipe="$( (
    cat "$builder_dir/builder.toml" "$cnb.hash"
    sha256sum <"$lifecycle_tgz"
    docker image inspect -f '{{.Id}}' "$build_image" "$run_image"
    echo "$pack_version"
) | sha)"
if docker image inspect "$builder_image" >/dev/null 2>&1 &&
    [[ "$(cat "$builder_dir/builder.hash" 2>/dev/null)" == "$builder_recipe" ]]; then
    say "$builder_image: up to date"
else
    rm -f "$builder_dir/builder.hash"
    old_builder_id="$(docker image inspect -f '{{.Id}}' "$builder_image" 2>/dev/null || true)"
    "$pack" builder create "$builder_image" --config "$builder_dir/builder.toml" --pull-policy never >&2 ||
        die "pack builder create $builder_image failed"
    echo "$builder_recipe" >"$builder_dir/builder.hash"
    # The replaced builder image is left untagged: remove it (kept if a container still uses it).
    if [[ -n "$old_builder_id" && "$old_builder_id" != "$(docker image inspect -f '{{.Id}}' "$builder_image")" ]]; then
        docker rmi "$old_builder_id" >/dev/null 2>&1 || true
    fi
fi
"$pack" config trusted-builders add "$builder_image" >/dev/null ||
    die "pack config trusted-builders add $builder_image failed"
"$pack" config pull-policy never >/dev/null || die "pack config pull-policy never failed"

# --- 7. Env file ----------------------------------------------------------------------------------
step "Done in $((SECONDS - start))s"
env_file="$cache/builder.env"
{
    echo "# Written by scripts/local-builder.sh: . $env_file"
    printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
    printf 'export CNB_PACK=%q\n' "$pack"
    printf 'export PACK_HOME=%q\n' "$PACK_HOME"
    printf 'export CNB_PACK_BUILDER=%q\n' "$builder_image"
} >"$env_file.partial"
mv "$env_file.partial" "$env_file"
say "wrote $env_file"
cat "$env_file"
