#!/usr/bin/env bash
# A catalogue of years (issue 12, item 4): 200,000 fitsfile rows and 5,000 sessions made by
# bench/gen_years.py (rows only, no pixels; every light already calibrated, every
# calibration session with its master), then:
#   ready      start of astrocald to its first `status` answer (the first planning pass
#              over the whole catalogue included), and its resident memory then (no master
#              loaded yet);
#   scans      what a periodic full scan of the unchanged catalogue costs (scan_interval_s
#              = 2: passes run and passes skipped, from the daemon's debug log);
#   re-plan    another process registers a master: the planning pass it causes (the
#              loop's part and its catalogue read, on a pool thread in WAL mode: their
#              durations from the debug log);
#   busy       `astrocalctl import` of a real night (LIGHTS lights of SIZE, its masters)
#              into that catalogue, calibrated by 2 workers while `status` and `sessions`
#              are asked 20 times a second on one connection (bench/status_latency.c):
#              their round trips, all and with every worker busy.
#
#   bench/run-years.sh [--files N] [--sessions N] [--lights N] [--size WxH] [--tmp DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
files=200000 sessions=5000 lights=16 size=4096x3000 tmp=/work/bench-tmp-years
build=/tmp/build-bench-years
source bench/common.sh
bench_options files sessions lights size tmp build -- "$@"
w=${size%x*} h=${size#*x}
bench_build "$build" astrocald astrocalctl acgen
cc -O2 -o "$build/status_latency" bench/status_latency.c -lm
rm -rf "$tmp"; mkdir -p "$tmp/d"
bench_machine
cat >"$tmp/astrocald.conf" <<CONF
[DAEMON]
database = $tmp/d/astrofiler.db
socket = $tmp/d/ctl.sock
state_dir = $tmp/d/state
output_dir = $tmp/out
log_level = debug
scan_interval_s = 2
[WORKERS]
workers = 2
max_load_per_cpu = 0
cpu_pressure_limit = 0
CONF
ctl() { "$build/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
# AstroFiler's schema, made by astrocald; then the rows.
"$build/astrocald" --config "$tmp/astrocald.conf" >"$tmp/d/create.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid" || true
python3 bench/gen_years.py "$tmp/d/astrofiler.db" --files "$files" --sessions "$sessions"
echo "generating the night to import: $lights lights of ${w}x${h}"
"$build/tests/acgen" night "$tmp/night" --width "$w" --height "$h" --lights "$lights" --masters float >/dev/null
rm -f "$tmp/d/daemon.log"
t0=$(now)
"$build/astrocald" --config "$tmp/astrocald.conf" >"$tmp/d/daemon.log" 2>&1 &
pid=$!
until ctl status >/dev/null 2>&1; do sleep 0.01; done
t1=$(now)
printf 'ready: %.2f s from start to the first status answer (target < 2 s)\n' "$(echo "$t1 - $t0" | bc -l)"
printf 'resident memory when ready, no master loaded: %d MiB (target < 100 MiB)\n' \
  "$(( $(awk '/VmRSS/{print $2}' "/proc/$pid/status") / 1024 ))"
sleep 7
echo "scans of the unchanged catalogue over 7 s: $(grep -c 'periodic scan skipped' "$tmp/d/daemon.log") skipped;" \
  "planning passes: $(grep -o 'planning pass[^:]*: [0-9.]* ms' "$tmp/d/daemon.log" | sed 's/.*: //' | paste -sd, -)"
npass=$(grep -c 'planning pass' "$tmp/d/daemon.log")
sqlite3 "$tmp/d/astrofiler.db" "INSERT INTO Masters (master_id, master_type, master_path, creation_date, \
  telescope, instrument, exposure_time, binning_x, binning_y, ccd_temp, file_count, is_validated, soft_delete) \
  VALUES ('dark_new_1', 'dark', '/archive/Masters/new-dark.fits', '2026-01-01 12:00:00', 'C14', \
  'ZWO ASI294MM Pro', '600', '1', '1', '-10', 20, 1, 0)"
for _ in $(seq 1 100); do [ "$(grep -c 'planning pass' "$tmp/d/daemon.log")" -gt "$npass" ] && break; sleep 0.05; done
echo "re-plan after a new master from another process: $(grep 'planning pass' "$tmp/d/daemon.log" | tail -n 1 | sed 's/.*planning pass/planning pass/') (target < 200 ms)"
echo "  its catalogue read (on a pool thread in WAL mode, the loop answering meanwhile): $(grep -o 'planning read on a pool thread: [0-9.]* ms' "$tmp/d/daemon.log" | tail -n 1 | sed 's/.*: //')"
nread=$(grep -c 'planning read on a pool thread' "$tmp/d/daemon.log" || true)
"$build/status_latency" "$tmp/d/ctl.sock" 600 20 sessions >"$tmp/latency" &
lat=$!
t2=$(now)
ctl import "$tmp/night" >/dev/null
while :; do
  n=$(sqlite3 "$tmp/d/astrofiler.db" "SELECT count(*) FROM astrocal_file WHERE state IN ('done','failed')")
  [ "$n" -ge "$lights" ] && break
  sleep 0.1
done
t3=$(now)
kill -INT "$lat"; wait "$lat" || true
printf 'busy: %d lights imported and calibrated in %.2f s; round trips (target p99 < 50 ms with every worker busy):\n' \
  "$lights" "$(echo "$t3 - $t2" | bc -l)"
sed 's/^/  /' "$tmp/latency"
printf 'resident memory after (masters loaded): %d MiB\n' "$(( $(awk '/VmRSS/{print $2}' "/proc/$pid/status") / 1024 ))"
echo "planning passes while busy: $(grep -o 'planning pass[^:]*: [0-9.]* ms' "$tmp/d/daemon.log" | tail -n +$((npass + 2)) | sed 's/.*: //' | paste -sd, -)"
echo "  their catalogue reads on a pool thread: $(grep -o 'planning read on a pool thread: [0-9.]* ms' "$tmp/d/daemon.log" | tail -n +$((nread + 1)) | sed 's/.*: //' | paste -sd, -)"
kill -TERM "$pid"; wait "$pid" || true
rm -rf "$tmp"
