#!/usr/bin/env bash
# Daemon end-to-end benchmark (issue 3): from `astrocalctl import` of a night to the last
# file done (every output durable before it counts: the daemon always fsyncs), against the
# one-shot mode with --sync on the same frames in the same run; and the latency of `status`
# while every worker is busy.
#
#   bench/run-daemon.sh [--lights N] [--reps N] [--size WxH] [--tmp DIR] [--build DIR]
#
# Run as root so the page cache can be dropped before every measurement. Uses about
# 3.5 GB under --tmp, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
lights=20 reps=3 size=6248x4176 tmp=/work/bench-tmp-daemon build=/tmp/build-bench-daemon
source bench/common.sh
bench_options lights reps size tmp build -- "$@"
w=${size%x*} h=${size#*x}
bench_build "$build" astrocald astrocalctl acgen
cc -O2 -o "$build/status_latency" bench/status_latency.c -lm
rm -rf "$tmp"; mkdir -p "$tmp"
bench_machine
echo "generating $lights lights of ${w}x${h} with float masters"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" --masters float >/dev/null


oneshot_fps=() daemon_fps=()
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
CONF
  drop
  echo "rep $rep: daemon, import to last file done (load $(cut -d' ' -f1 /proc/loadavg))"
  "$build/astrocald" --config "$tmp/d/astrocald.conf" >"$tmp/d/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
  ctl() { "$build/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
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
  [ "$fail_n" = "0" ] || { echo "daemon: $fail_n files failed"; cat "$tmp/d/log"; exit 1; }
  daemon_fps+=("$(echo "$lights / ($t1 - $t0)" | bc -l)")
  echo "  one-shot ${oneshot_fps[-1]} frames/s, daemon ${daemon_fps[-1]} frames/s"
  cat "$tmp/d/latency" | sed 's/^/  /'
  rm -rf "$tmp/out-daemon"
done
mo=$(median "${oneshot_fps[@]}") md=$(median "${daemon_fps[@]}")
printf 'median: one-shot --sync %.2f frames/s, daemon %.2f frames/s, ratio %.2f (target >= 0.90)\n' \
  "$mo" "$md" "$(echo "$md / $mo" | bc -l)"
rm -rf "$tmp"
