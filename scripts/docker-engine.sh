#!/usr/bin/env bash
# A Docker engine of our own, for pack, on machines without one (Debian's docker.io, dockerd on
# its own socket, no network plumbing: containers get loopback, or the host's network with
# `--network host`).
#
#   scripts/docker-engine.sh start   # reuse a reachable engine, else install docker.io if dockerd
#                                    # is missing and start dockerd in the background
#   scripts/docker-engine.sh env     # prints `export DOCKER_HOST=...` for the engine to use
#   scripts/docker-engine.sh stop    # stops the engine *we* started (pid file) and cleans up
#   scripts/docker-engine.sh status
#
# Everything lives under $LIBCNB_DOCKER_ROOT, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env/docker: docker.sock, docker.pid, dockerd.log,
# data/ (images, volumes: kept across restarts) and exec/ (runtime state).
#
# `start` uses an engine that answers `docker info` with the current DOCKER_HOST (or the default
# socket) and starts nothing then; `stop` only stops an engine whose pid file is ours.
set -euo pipefail

root="${LIBCNB_DOCKER_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env/docker}"
sock="$root/docker.sock"
pidfile="$root/docker.pid"
log="$root/dockerd.log"
exec_root="$root/exec"
data_root="$root/data"
created_key="$root/created-etc-docker-key.json"
our_host="unix://$sock"
start_timeout="${LIBCNB_DOCKER_START_TIMEOUT:-60}"

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# The pid of the dockerd we started, if it still runs.
our_pid() {
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]] || return 1
    echo "$pid"
}

ours_up() { our_pid >/dev/null && DOCKER_HOST="$our_host" docker info >/dev/null 2>&1; }

# The engine the caller's environment reaches (DOCKER_HOST or the default socket), if any.
current_host() {
    if [[ -n "${DOCKER_HOST:-}" ]]; then
        docker info >/dev/null 2>&1 && echo "$DOCKER_HOST"
    elif [[ -S /var/run/docker.sock ]]; then
        DOCKER_HOST=unix:///var/run/docker.sock docker info >/dev/null 2>&1 &&
            echo unix:///var/run/docker.sock
    else
        return 1
    fi
}

install_engine() {
    command -v docker >/dev/null && command -v dockerd >/dev/null && return 0
    command -v apt-get >/dev/null || die "dockerd is missing and there is no apt-get to install docker.io"
    say "installing Debian's docker.io (dockerd and/or the docker client are missing)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker.io >&2 ||
        die "apt-get install docker.io failed"
    command -v dockerd >/dev/null || die "docker.io installed, but dockerd is still not on PATH"
}

start() {
    if ours_up; then
        say "our engine runs (pid $(our_pid), $our_host)"
        return 0
    fi
    if our_pid >/dev/null; then
        die "our dockerd (pid $(our_pid)) runs but does not answer on $sock; run '$0 stop' first"
    fi
    local current
    if current="$(current_host)"; then
        say "using the reachable engine at $current (starting none)"
        return 0
    fi
    install_engine
    # pack without --docker-host inherit makes the engine create an empty *directory* at the
    # default socket path: remove it, or every later default-socket client fails.
    if [[ -d /var/run/docker.sock ]] && $SUDO rmdir /var/run/docker.sock 2>/dev/null; then
        say "removed the empty directory /var/run/docker.sock (left by a pack build without --docker-host inherit)"
    fi
    mkdir -p "$root" "$data_root" "$exec_root"
    rm -f "$sock" "$pidfile"
    # dockerd writes /etc/docker/key.json on first start: note whether we are the ones creating it.
    if [[ ! -e /etc/docker/key.json ]]; then touch "$created_key"; fi
    # A containerd socket left by an engine that is gone makes dockerd wait for it: remove it.
    if [[ -S /run/containerd/containerd.sock ]] && ! pgrep -x containerd >/dev/null; then
        say "removing the stale /run/containerd/containerd.sock (no containerd runs)"
        $SUDO rm -f /run/containerd/containerd.sock
    fi
    say "starting dockerd on $sock (log: $log)"
    : >"$log"
    $SUDO setsid dockerd \
        --data-root "$data_root" \
        --exec-root "$exec_root" \
        --pidfile "$pidfile" \
        -H "$our_host" \
        --storage-driver overlay2 \
        --iptables=false --ip6tables=false --bridge=none \
        </dev/null >>"$log" 2>&1 &
    local waited=0
    until DOCKER_HOST="$our_host" docker info >/dev/null 2>&1; do
        if ((waited >= start_timeout)); then
            say "dockerd did not answer on $sock within ${start_timeout}s; last lines of $log:"
            tail -n 25 "$log" >&2
            die "the Docker engine did not start"
        fi
        if ((waited > 2)) && ! our_pid >/dev/null && ! pgrep -f "dockerd.*$sock" >/dev/null; then
            say "dockerd exited; last lines of $log:"
            tail -n 25 "$log" >&2
            die "the Docker engine did not start"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "engine up after ${waited}s (pid $(our_pid), $our_host)"
}

stop() {
    local pid
    if ! pid="$(our_pid)"; then
        say "no engine of ours runs (no live dockerd in $pidfile): nothing to stop"
        rm -f "$pidfile"
        cleanup
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    $SUDO kill -TERM "$pid"
    local waited=0
    while [[ -d "/proc/$pid" ]]; do
        if ((waited >= 30)); then
            say "dockerd (pid $pid) still runs after 30s: killing it"
            $SUDO kill -KILL "$pid" || true
            sleep 1
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$pidfile"
    cleanup
    say "stopped"
}

# What a stopped dockerd leaves behind. Shared paths (/run/docker, /run/containerd) only when no
# other engine runs on this machine.
cleanup() {
    [[ -d "$exec_root" ]] || [[ -e "$created_key" ]] || return 0
    if [[ -d "$exec_root" ]]; then
        # netns bind mounts (exec/netns/default) and anything else mounted under the exec root.
        local mnt
        while read -r mnt; do
            $SUDO umount -l "$mnt" 2>/dev/null || say "warning: could not unmount $mnt"
        done < <(awk -v r="$exec_root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
        $SUDO rm -rf "$exec_root" 2>/dev/null || say "warning: could not remove $exec_root"
    fi
    rm -f "$sock"
    if pgrep -x dockerd >/dev/null || pgrep -x containerd >/dev/null; then
        say "another engine runs on this machine: leaving /run/docker, /run/containerd, /etc/docker/key.json"
        return 0
    fi
    $SUDO rm -rf /run/docker /run/containerd
    if [[ -e "$created_key" ]]; then
        $SUDO rm -f /etc/docker/key.json
        $SUDO rmdir /etc/docker 2>/dev/null || true
        rm -f "$created_key"
    fi
}

env_cmd() {
    local current
    if ours_up; then
        printf 'export DOCKER_HOST=%q\n' "$our_host"
    elif current="$(current_host)"; then
        printf 'export DOCKER_HOST=%q\n' "$current"
    else
        die "no Docker engine is reachable: run '$0 start'"
    fi
}

status() {
    local current
    if ours_up; then
        echo "ours: pid $(our_pid), $our_host"
    elif current="$(current_host)"; then
        echo "not ours: $current"
    else
        echo "none reachable"
        return 1
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) env_cmd ;;
status) status ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
