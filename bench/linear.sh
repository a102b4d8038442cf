#!/usr/bin/env bash
# Is a suite's cost linear in its size? Generates seed-style suites of each
# size (bench/gen_suite.lua: 1k, 10k and 100k tests by default), runs each
# with ./luatest -q under /usr/bin/time, ROUNDS times, interleaved with the
# C floor (hello_uv's `pertest N`: N x {listener, client, one GET, close})
# when ../shared/perf/hello_uv.c is there, and prints medians: seconds, us
# per test, its ratio to the smallest size's and to the floor's, peak RSS
# and the KB of RSS each test adds over the smallest suite.
# usage (from the repository root, after make): bench/linear.sh [ROUNDS] [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

floor=""
side="$root/../shared/perf/hello_uv.c"
if [ -f "$side" ] && [ -f /usr/share/llhttp/api.c ]; then
  cc -O2 -w -I/usr/share/include/llhttp -o "$tmp/hello_uv" "$side" /usr/share/llhttp/api.c \
    /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c $(pkg-config --cflags --libs libuv) && floor="$tmp/hello_uv"
fi

for n in "${sizes[@]}"; do
  lua5.4 bench/gen_suite.lua "$tmp/suite_$n" "$n" functions
done

med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for _ in $(seq "$rounds"); do
  for n in "${sizes[@]}"; do
    # (each run from an empty directory: no durations cache of earlier runs to merge)
    rm -rf "$tmp/cwd" && mkdir "$tmp/cwd"
    (cd "$tmp/cwd" && /usr/bin/time -f "%e %M" -o "$tmp/t" "$root/luatest" -q "$tmp/suite_$n" >"$tmp/log" 2>&1) \
      || { tail -5 "$tmp/log"; exit 1; }
    cat "$tmp/t" >>"$tmp/lt.$n"
    if [ -n "$floor" ]; then
      /usr/bin/time -f "%e %M" -o "$tmp/t" "$floor" pertest "$n" >/dev/null 2>&1
      cat "$tmp/t" >>"$tmp/fl.$n"
    fi
  done
done

first=${sizes[0]}
t1=$(awk '{print $1}' "$tmp/lt.$first" | med)
m1=$(awk '{print $2}' "$tmp/lt.$first" | med)
echo "== seed-style suites, ./luatest -q, median of $rounds (time per test relative to the $first-test suite's)"
for n in "${sizes[@]}"; do
  t=$(awk '{print $1}' "$tmp/lt.$n" | med)
  m=$(awk '{print $2}' "$tmp/lt.$n" | med)
  line=$(awk -v n="$n" -v t="$t" -v m="$m" -v n1="$first" -v t1="$t1" -v m1="$m1" 'BEGIN {
    us = t / n * 1e6; us1 = t1 / n1 * 1e6
    printf "%7d tests  %7.2f s  %6.1f us/test (x%.2f)  %7d KB peak RSS", n, t, us, us / us1, m
    if (n > n1) printf "  %.2f KB/test over %d", (m - m1) / (n - n1), n1
  }')
  if [ -n "$floor" ]; then
    f=$(awk '{print $1}' "$tmp/fl.$n" | med)
    line="$line$(awk -v t="$t" -v f="$f" -v n="$n" 'BEGIN {
      printf "   floor %.2f s (%.1f us/test): %.2fx", f, f / n * 1e6, (f > 0 ? t / f : 0) }')"
  fi
  echo "$line"
done
