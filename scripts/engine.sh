#!/usr/bin/env bash
# Make a Docker engine reachable for pytest-dockerlab, or stop the one this script started.
#
#   scripts/engine.sh start   find a reachable engine (DOCKER_HOST or the default socket);
#                             otherwise, as root on Debian, install docker.io, mmdebstrap
#                             and debootstrap
#                             and start dockerd, then wait until it answers. Idempotent.
#   scripts/engine.sh stop    stop dockerd if (and only if) this script started it.
#   scripts/engine.sh status  say what is reachable.
set -euo pipefail

STATE_DIR=${DOCKERLAB_STATE_DIR:-/run/pytest-dockerlab}
PIDFILE=$STATE_DIR/dockerd.pid
LOGFILE=$STATE_DIR/dockerd.log
WAIT_SECONDS=${DOCKERLAB_ENGINE_WAIT:-60}

say() { echo "engine.sh: $*" >&2; }

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

is_root() { [ "$(id -u)" = 0 ]; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    # testinfra's docker backend calls the docker CLI.
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    # mmdebstrap builds an offline image in one run (its packages, settings and masks);
    # debootstrap, if that is what is here, still makes a base for the Dockerfile.
    command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
    # debootstrap makes the base root filesystem of an image built in two steps (bullseye,
    # DOCKERLAB_ONE_PASS=off): its merged /usr is the one the recipes were written on.
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        say "missing ${missing[*]}; install them (as root on Debian: apt-get install ${missing[*]})"
        return 1
    fi
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start() {
    if engine_answers; then
        install_packages || true
        say "engine reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
        return 0
    fi
    if [ -n "${DOCKER_HOST:-}" ]; then
        say "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine in its place"
        return 1
    fi
    install_packages
    if engine_answers; then return 0; fi
    if ! is_root; then
        say "no engine at unix:///var/run/docker.sock and not root: start dockerd (sudo $0 start)"
        return 1
    fi
    mkdir -p "$STATE_DIR"
    say "starting dockerd (log: $LOGFILE)"
    # setsid: the daemon must not die with the shell that started it, nor get its signals.
    # DOCKERLAB_DOCKERD_ARGS: more flags (bench fresh: an empty --data-root of its own).
    # shellcheck disable=SC2086
    setsid dockerd ${DOCKERLAB_DOCKERD_ARGS:-} >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    # Asked five times a second: a daemon answers within about a second of its start.
    for _ in $(seq $((WAIT_SECONDS * 5))); do
        if engine_answers; then
            say "dockerd answers (pid $(cat "$PIDFILE"))"
            return 0
        fi
        if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            say "dockerd exited; last lines of its log:"
            tail -n 20 "$LOGFILE" >&2
            rm -f "$PIDFILE"
            return 1
        fi
        sleep 0.2
    done
    say "dockerd did not answer within ${WAIT_SECONDS}s; last lines of its log:"
    tail -n 20 "$LOGFILE" >&2
    return 1
}

stop() {
    [ -f "$PIDFILE" ] || { say "no dockerd started by this script"; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        # dockerd starts its own containerd; it goes with it, but make sure.
        pkill -f "containerd --config /var/run/docker/containerd/containerd.toml" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
}

status() {
    if engine_answers; then
        docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}) answers' >&2
    else
        say "no engine answers"
        return 1
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) say "usage: $0 start|stop|status"; exit 2 ;;
esac
