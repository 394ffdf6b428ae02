#!/bin/sh
# Installs what is missing, builds Bursar (optimised) and runs the benchmark
# of issue 5: the real bursard on a private bus with a real gnome-keyring
# and the loopback mock authorization server, side by side with oidc-agent.
# Prints a table and writes the same figures as JSON.
#
#   sudo ./scripts/bench.sh [JSON-PATH] [-- extra bursar-bench options]
#
# The JSON goes to $BURSAR_BENCH_BUILDDIR/bench-results.json unless a path
# is given. It takes about 5 minutes; nothing of your desktop is touched.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BURSAR_BENCH_BUILDDIR:-$top/_build-bench}
json=${1:-$build/bench-results.json}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

"$top/scripts/install-deps.sh"

# What only the benchmark needs: oidc-agent for figure 6 (and its client
# library for the socket request), strace for figure 5, valgrind for 7.
PACKAGES="oidc-agent oidc-agent-cli liboidc-agent-dev strace valgrind"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "Installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# Timings of a debug build say little: the benchmark uses the project's
# default, debugoptimized (-O2 -g).
if [ ! -d "$build" ]; then
  meson setup "$build" "$top" -Dbench=true -Dtests=true -Dbuildtype=debugoptimized
fi
ninja -C "$build"

exec "$build/bench/bursar-bench" --json "$json" "$@"
