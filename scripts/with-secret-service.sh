#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked GNOME
# Keyring Secret Service, so credflow's keychain backend (go-keyring) can be
# tested on a headless Linux machine. Nothing touches your own keyring.
#
#   scripts/with-secret-service.sh go test ./...
#
# Needs the Debian/Ubuntu packages gnome-keyring, dbus and libsecret-tools.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
for bin in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "$0: $bin not found; install: apt-get install -y gnome-keyring dbus libsecret-tools" >&2
    exit 1
  fi
done

if [ -z "${CREDFLOW_IN_SECRET_SERVICE:-}" ]; then
  # A throwaway keyring directory, so test items never reach a real keyring.
  home=$(mktemp -d)
  trap 'rm -rf "$home"' EXIT
  mkdir -p "$home/run" && chmod 700 "$home/run"
  export CREDFLOW_IN_SECRET_SERVICE=1
  export CREDFLOW_ORIG_XDG_DATA_HOME="${XDG_DATA_HOME-}" CREDFLOW_ORIG_XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR-}"
  status=0
  XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" \
    dbus-run-session -- "$0" "$@" || status=$?
  exit $status
fi

# --unlock reads the keyring password from stdin; it creates the login
# keyring on first use. The output is environment for the daemon's control
# socket, which the Secret Service D-Bus API does not need.
printf 'credflow-test' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
# Wait until the service answers on the bus.
for _ in $(seq 1 50); do
  if printf x | secret-tool store --label=credflow-probe credflow probe 2>/dev/null; then
    secret-tool clear credflow probe 2>/dev/null || true
    break
  fi
  sleep 0.1
done
# XDG_DATA_HOME above belongs to the keyring; give the command the caller's.
restore() { if [ -n "$2" ]; then export "$1=$2"; else unset "$1"; fi; }
restore XDG_DATA_HOME "$CREDFLOW_ORIG_XDG_DATA_HOME"
restore XDG_RUNTIME_DIR "$CREDFLOW_ORIG_XDG_RUNTIME_DIR"
unset CREDFLOW_IN_SECRET_SERVICE CREDFLOW_ORIG_XDG_DATA_HOME CREDFLOW_ORIG_XDG_RUNTIME_DIR
"$@"
