#!/usr/bin/env bash
# The daemon against the one-shot on a catalogue made by AstroFiler's own importer
# (issue 12, item 1 and 3): N lights with float master bias, dark and flat, and raw
# calibration frames, registered by AstroFiler (bench/af_register.py: registerFitsImages,
# registerMasters, its sessions). Then, alternating in one run, warm cache:
#   daemon    `astrocald --drain` on a copy of that catalogue (2 workers, master building
#             on, throttles off, nice 0 and io_class none like the one-shot): start-up,
#             planning, master loading, every light calibrated, its output durable and
#             hashed (SHA-256) and its row committed, until the process has exited;
#   one-shot  `astrocald calibrate --sync --jobs 2` of the same lights with the same masters.
# It also checks that master building made no duplicate of the masters AstroFiler
# registered (Masters rows before and after). With --base DIR, each rep first runs the
# daemon built in DIR (e.g. a Release build of an earlier commit) the same way, so a change
# is measured against its baseline in the same run.
#
#   bench/run-drain.sh [--lights N] [--reps N] [--size WxH] [--base DIR] [--tmp DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
lights=16 reps=5 size=4096x3000 base="" tmp=/work/bench-tmp-drain build=/tmp/build-bench-drain
source bench/common.sh
bench_options lights reps size base tmp build -- "$@"
[ -z "$base" ] || [ -x "$base/astrocald" ] || { echo "--base $base: no astrocald there" >&2; exit 64; }
w=${size%x*} h=${size#*x}
bench_build "$build" astrocald acgen
rm -rf "$tmp"; mkdir -p "$tmp/d"
bench_machine
echo "generating $lights lights of ${w}x${h}, float masters, 5 raw frames of each calibration kind"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" \
  --masters float --raw-cal 5 >/dev/null
conf() { # conf FILE DB BUILD_MASTERS CALIBRATE (True/False)
  local f=$1 db=$2 build_m=$3 cal=$4
  { printf '[AUTO_CALIBRATION]\nenable_light_calibration = %s\n' "$cal"
    printf '[DAEMON]\ndatabase = %s\nsocket = %s/d/ctl.sock\nstate_dir = %s/d/state\n' "$db" "$tmp" "$tmp"
    printf 'output_dir = %s/out-daemon\nlog_level = notice\n' "$tmp"
    printf '[WORKERS]\nworkers = 2\nmax_load_per_cpu = 0\ncpu_pressure_limit = 0\nnice = 0\nio_class = none\n'
    printf '[MASTERS]\nbuild_masters = %s\nbuild_settle_s = 0\n' "$build_m"; } >"$f"
}
# The catalogue: AstroFiler's schema (astrocald creates it), then AstroFiler's importer.
conf "$tmp/d/create.conf" "$tmp/d/base.db" False False
"$build/astrocald" --config "$tmp/d/create.conf" >"$tmp/d/create.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid" || true
/usr/bin/python3 bench/af_register.py "$tmp/d/base.db" "$tmp/data" 2>/dev/null | tail -n 1
masters_before=$(sqlite3 "$tmp/d/base.db" "SELECT count(*) FROM Masters")
conf "$tmp/d/drain.conf" "$tmp/d/run.db" True True
# drain BUILD: one --drain run of BUILD's daemon on a fresh copy of the catalogue, warm;
# prints its seconds.
drain() {
  local t0 t1 done_n
  rm -rf "$tmp/out-daemon" "$tmp/d/state"; cp "$tmp/d/base.db" "$tmp/d/run.db"
  rm -f "$tmp/d/run.db-wal" "$tmp/d/run.db-shm"
  cat "$tmp"/data/lights/*.fits "$tmp"/data/masters/*.fits >/dev/null # warm
  t0=$(now)
  "$1/astrocald" --config "$tmp/d/drain.conf" --drain >"$tmp/d/drain.log" 2>&1
  t1=$(now)
  done_n=$(sqlite3 "$tmp/d/run.db" "SELECT count(*) FROM astrocal_file WHERE state = 'done'")
  [ "$done_n" = "$lights" ] || { echo "daemon: $done_n of $lights done" >&2; cat "$tmp/d/drain.log" >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}
d_fps=() o_fps=() b_fps=()
for rep in $(seq 1 "$reps"); do
  if [ -n "$base" ]; then
    tb=$(drain "$base")
    b_fps+=("$(echo "$lights / $tb" | bc -l)")
    printf 'rep %d (load %s): daemon of --base --drain %.2f s\n' "$rep" "$(cut -d' ' -f1 /proc/loadavg)" "$tb"
  fi
  td=$(drain "$build")
  masters_after=$(sqlite3 "$tmp/d/run.db" "SELECT count(*) FROM Masters")
  rm -rf "$tmp/out-oneshot"
  t2=$(now)
  "$build/astrocald" calibrate --quiet --jobs 2 --sync \
      --bias "$tmp/data/masters/master_bias.fits" --dark "$tmp/data/masters/master_dark.fits" \
      --flat "$tmp/data/masters/master_flat.fits" --output-dir "$tmp/out-oneshot" \
      "$tmp"/data/lights/*.fits >/dev/null 2>&1
  t3=$(now)
  d_fps+=("$(echo "$lights / $td" | bc -l)")
  o_fps+=("$(echo "$lights / ($t3 - $t2)" | bc -l)")
  printf 'rep %d (load %s): daemon --drain %.2f s, one-shot %.2f s, ratio %.2f; Masters %d -> %d\n' \
    "$rep" "$(cut -d' ' -f1 /proc/loadavg)" "$td" "$(echo "$t3 - $t2" | bc -l)" \
    "$(echo "($t3 - $t2) / $td" | bc -l)" "$masters_before" "$masters_after"
  [ "$masters_after" = "$masters_before" ] || { echo "duplicate masters were built"; exit 1; }
done
md=$(median "${d_fps[@]}") mo=$(median "${o_fps[@]}")
printf 'median: daemon --drain %.2f frames/s, one-shot --sync %.2f frames/s, ratio %.2f (target >= 0.90)\n' \
  "$md" "$mo" "$(echo "$md / $mo" | bc -l)"
if [ -n "$base" ]; then
  mb=$(median "${b_fps[@]}")
  printf 'median: daemon of --base %.2f frames/s, ratio to the one-shot %.2f; this build %.2fx the base\n' \
    "$mb" "$(echo "$mb / $mo" | bc -l)" "$(echo "$md / $mb" | bc -l)"
fi
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp" # BENCH_KEEP=1 keeps the data for profiling
