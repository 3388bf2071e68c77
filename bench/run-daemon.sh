#!/usr/bin/env bash
# Daemon end-to-end benchmark (issue 3): from `astrocalctl import` of a night to the last
# file done (every output durable before it counts: the daemon always fsyncs), against the
# one-shot mode with --sync on the same frames in the same run; and the latency of `status`
# while every worker is busy. The daemon runs with 2 workers, throttles off, nice 0 and
# io_class none, like the one-shot (the defaults, nice 10, the idle I/O class and the load
# throttle, make room for capture software; here nothing else runs, and a load average
# left high by the previous rep would hold its jobs back).
#
# With --base DIR, each rep also runs the daemon built in DIR (e.g. a Release build of an
# earlier commit, its astrocald and astrocalctl) the same way, after the one-shot and before
# this build's daemon, so a change is measured against its baseline in the same run.
#
#   bench/run-daemon.sh [--lights N] [--reps N] [--size WxH] [--base DIR] [--tmp DIR] [--build DIR]
#
# Run as root so the page cache can be dropped before every measurement. Uses about
# 3.5 GB under --tmp, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
lights=20 reps=3 size=6248x4176 base="" tmp=/work/bench-tmp-daemon build=/tmp/build-bench-daemon
source bench/common.sh
bench_options lights reps size base tmp build -- "$@"
[ -z "$base" ] || [ -x "$base/astrocald" ] || { echo "--base $base: no astrocald there" >&2; exit 64; }
w=${size%x*} h=${size#*x}
bench_build "$build" astrocald astrocalctl acgen
cc -O2 -o "$build/status_latency" bench/status_latency.c -lm
rm -rf "$tmp"; mkdir -p "$tmp"
bench_machine
echo "generating $lights lights of ${w}x${h} with float masters"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" --masters float >/dev/null


# daemon BUILD LABEL: the daemon built in BUILD, import of the night to the last file
# done, cold; prints its frames/s as the last line, the status latencies before.
daemon() {
  local b=$1 label=$2 t0 t1 st done_n fail_n pid lat
  rm -rf "$tmp/d" "$tmp/out-daemon"; mkdir -p "$tmp/d"
  cat >"$tmp/d/astrocald.conf" <<CONF
[DAEMON]
database = $tmp/d/astrofiler.db
socket = $tmp/d/ctl.sock
state_dir = $tmp/d/state
output_dir = $tmp/out-daemon
log_level = notice
[WORKERS]
workers = 2
max_load_per_cpu = 0
cpu_pressure_limit = 0
nice = 0
io_class = none
CONF
  drop
  echo "rep $rep: $label, import to last file done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  "$b/astrocald" --config "$tmp/d/astrocald.conf" >"$tmp/d/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
  ctl() { "$b/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
  "$build/status_latency" "$tmp/d/ctl.sock" 3600 20 >"$tmp/d/latency" &
  lat=$!
  t0=$(now)
  ctl import "$tmp/data" >/dev/null
  while :; do
    st=$(ctl --json status)
    done_n=$(echo "$st" | grep -o '"done":[0-9]*' | head -n 1 | cut -d: -f2)
    fail_n=$(echo "$st" | grep -o '"failed":[0-9]*' | head -n 1 | cut -d: -f2)
    [ "$((done_n + fail_n))" -ge "$lights" ] && break
    sleep 0.05
  done
  t1=$(now)
  kill -INT "$lat" 2>/dev/null || true; wait "$lat" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" || true
  [ "$fail_n" = "0" ] || { echo "daemon: $fail_n files failed" >&2; cat "$tmp/d/log" >&2; exit 1; }
  sed 's/^/  /' "$tmp/d/latency" >&2
  rm -rf "$tmp/out-daemon"
  echo "$lights / ($t1 - $t0)" | bc -l
}
oneshot_fps=() daemon_fps=() base_fps=()
for rep in $(seq 1 "$reps"); do
  rm -rf "$tmp/out-oneshot"; drop
  echo "rep $rep: one-shot --sync (load $(cut -d' ' -f1 /proc/loadavg))"
  t0=$(now)
  "$build/astrocald" calibrate --quiet --jobs 2 --sync \
      --bias "$tmp/data/masters/master_bias.fits" --dark "$tmp/data/masters/master_dark.fits" \
      --flat "$tmp/data/masters/master_flat.fits" --output-dir "$tmp/out-oneshot" \
      "$tmp"/data/lights/*.fits | tail -n 1
  t1=$(now)
  oneshot_fps+=("$(echo "$lights / ($t1 - $t0)" | bc -l)")
  rm -rf "$tmp/out-oneshot"
  if [ -n "$base" ]; then
    base_fps+=("$(daemon "$base" "daemon of --base" | tail -n 1)")
  fi
  daemon_fps+=("$(daemon "$build" daemon | tail -n 1)")
  printf '  one-shot %.2f frames/s, daemon %.2f frames/s (ratio %.2f)%s\n' "${oneshot_fps[-1]}" \
    "${daemon_fps[-1]}" "$(echo "${daemon_fps[-1]} / ${oneshot_fps[-1]}" | bc -l)" \
    "$([ -z "$base" ] || printf ', daemon of --base %.2f frames/s' "${base_fps[-1]}")"
done
mo=$(median "${oneshot_fps[@]}") md=$(median "${daemon_fps[@]}")
printf 'median: one-shot --sync %.2f frames/s, daemon %.2f frames/s, ratio %.2f (target >= 0.90)\n' \
  "$mo" "$md" "$(echo "$md / $mo" | bc -l)"
if [ -n "$base" ]; then
  mb=$(median "${base_fps[@]}")
  printf 'median: daemon of --base %.2f frames/s, ratio to the one-shot %.2f; this build %.2fx the base\n' \
    "$mb" "$(echo "$mb / $mo" | bc -l)" "$(echo "$md / $mb" | bc -l)"
fi
rm -rf "$tmp"
