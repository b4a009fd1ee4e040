#!/bin/sh
# Runs a command under a Node.js that Jetway supports (>= 22), after scripts/ensure-deps.sh.
# `npm start`, `npm test`, `npm run rebuild|dlq|bench:*` go through here:
#
#   sh scripts/node.sh tap
#
# Which node: the one on PATH when it is 22 or newer; otherwise Node 24, brought once from the
# npm registry (the package node-<os>-<arch>@24, a plain tarball holding bin/node) into
# .node/24/, which git ignores. JETWAY_NODE=<major> asks for that major instead: the node on
# PATH if it is that major, else .node/<major>/ (CI uses JETWAY_NODE=22 for its second pass).
# The chosen node goes first on PATH, so `npm ci`, tap, tsx and every child they start with
# `node` or process.execPath run on it.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
min_major=22
default_major=24

major_of () { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

path_major=0
command -v node >/dev/null 2>&1 && path_major=$(major_of node)
want=${JETWAY_NODE:-}
if [ -z "$want" ] && [ "$path_major" -ge "$min_major" ]; then
  want=$path_major
fi
want=${want:-$default_major}
case "$want" in
  ''|*[!0-9]*) echo "jetway: JETWAY_NODE must be a major version such as 22, not '$want'" >&2; exit 1 ;;
esac

if [ "$path_major" != "$want" ]; then
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=unsupported ;; esac
  case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) arch=unsupported ;; esac
  dir="$root/.node/$want"
  if [ "$(major_of "$dir/bin/node")" != "$want" ]; then
    pkg="node-$os-$arch@$want"
    echo "jetway: the node on PATH is $(node -v 2>/dev/null || echo 'missing'); fetching Node $want ($pkg) from the npm registry into .node/$want" >&2
    mkdir -p "$root/.node"
    tmp=$(mktemp -d "$root/.node/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack "$pkg" --silent >/dev/null)
    mkdir "$tmp/unpacked"
    tar -xzf "$tmp"/*.tgz -C "$tmp/unpacked" --strip-components=1
    if [ "$(major_of "$tmp/unpacked/bin/node")" != "$want" ]; then
      echo "jetway: $pkg did not give a working node $want" >&2
      exit 1
    fi
    # Another run may have finished the same fetch meanwhile: keep the first.
    if [ "$(major_of "$dir/bin/node")" != "$want" ]; then
      rm -rf "$dir"
      mv "$tmp/unpacked" "$dir"
    fi
    rm -rf "$tmp"
    trap - EXIT
  fi
  echo "jetway: running on Node $("$dir/bin/node" -v) from .node/$want" >&2
  PATH="$dir/bin:$PATH"
  # node-gyp builds against the headers that ship beside this node (include/node), not the
  # machine's (a user .npmrc may point nodedir at the system node's).
  npm_config_nodedir="$dir"
  export PATH npm_config_nodedir
fi

# npm exports the path of the node it runs on; point it at the chosen one too.
NODE=$(command -v node)
npm_node_execpath=$NODE
export NODE npm_node_execpath

sh "$root/scripts/ensure-deps.sh"
exec "$@"
