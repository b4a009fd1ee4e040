#!/bin/sh
# Installs what a fresh machine lacks, then returns, so `npm start` and `npm test` work on a
# fresh clone: the npm dependencies (from package-lock.json), and the Debian nats-server
# package when NATS_URL is unset and no nats-server is on PATH (and chromium for `npm test`).
# scripts/node.sh runs it with the chosen node first on PATH, so `npm ci` runs on that node too.
set -e
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "jetway: installing npm dependencies (npm ci) on node $(node -v)" >&2
  # The npm that started us (npm_execpath is its npm-cli.js), run by the node on PATH; a plain
  # `npm` could be a wrapper that names its own node.
  case "${npm_execpath:-}" in
    *npm-cli.js) node "$npm_execpath" ci --no-audit --no-fund ;;
    *) npm ci --no-audit --no-fund ;;
  esac
fi

if [ -z "${NATS_URL:-}" ] && ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "jetway: installing nats-server (Debian package)" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
  # The package also enables a system service on port 4222; Jetway runs its own child instead.
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true
    echo "jetway: disabled the nats-server system service the package enabled (Jetway starts its own)" >&2
  fi
fi

# `npm test` drives one approval page in Debian's chromium (test/api/approval-browser.test.ts).
if [ "${npm_lifecycle_event:-}" = "test" ] && [ ! -x /usr/bin/chromium ]; then
  echo "jetway: installing chromium (Debian package) for the browser test" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
