#!/usr/bin/env bash
# The manifest path against the daemon on the same lights (issue 15): N lights with float
# master bias, dark and flat, registered by AstroFiler's own importer (bench/af_register.py).
# Alternating in one run, warm cache:
#   daemon  `astrocald --drain` on a copy of that catalogue (2 workers, throttles off):
#           start-up, planning, master loading, every light calibrated, durable, hashed and
#           recorded, until the process has exited;
#   shard   `astrocald calibrate --manifest SHARD --results OUT --jobs 2` of one shard
#           holding the same lights, exported by the daemon from another copy
#           (`astrocalctl export --all-uncalibrated --shards 1`): master MD5s checked,
#           every light calibrated, durable, hashed, its result line written;
#   import  `astrocalctl import-results` of that shard (outputs hashed again, rows written);
#   recal   then, on those calibrated lights, a replacement dark (another seed) registered
#           and pinned, `astrocalctl export --calibrated-with OLD_DARK`, its shard run
#           (new outputs beside the old ones) and its import (checked, swapped in, the
#           existing rows updated, the old files removed).
#
#   bench/run-cluster.sh [--lights N] [--reps N] [--size WxH] [--tmp DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
lights=16 reps=3 size=4096x3000 tmp=/work/bench-tmp-cluster build=/tmp/build-bench-cluster
source bench/common.sh
bench_options lights reps size tmp build -- "$@"
w=${size%x*} h=${size#*x}
bench_build "$build" astrocald astrocalctl acgen
rm -rf "$tmp"; mkdir -p "$tmp/d"
bench_machine
echo "generating $lights lights of ${w}x${h}, float masters"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" \
  --masters float >/dev/null
conf() { # conf FILE DB OUTDIR
  { printf '[AUTO_CALIBRATION]\nenable_light_calibration = True\n'
    printf 'auto_calibrate_on_master_creation = True\n'
    printf '[DAEMON]\ndatabase = %s\nsocket = %s/d/ctl.sock\nstate_dir = %s/d/state\n' "$2" "$tmp" "$tmp"
    printf 'output_dir = %s\nlog_level = notice\n' "$3"
    printf '[WORKERS]\nworkers = 2\nmax_load_per_cpu = 0\ncpu_pressure_limit = 0\nnice = 0\nio_class = none\n'
    printf '[MASTERS]\nbuild_masters = False\n'; } >"$1"
}
ctl() { "$build/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
conf "$tmp/d/create.conf" "$tmp/d/base.db" "$tmp/out-x"
"$build/astrocald" --config "$tmp/d/create.conf" >"$tmp/d/create.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid" || true
/usr/bin/python3 bench/af_register.py "$tmp/d/base.db" "$tmp/data" 2>/dev/null | tail -n 1
"$build/tests/acgen" night "$tmp/data2" --width "$w" --height "$h" --lights 1 \
  --masters float --seed 99 >/dev/null # the replacement dark: other pixels
dark2=$(ls "$tmp"/data2/masters/*dark*.fits | head -1)
d_s=() s_s=() i_s=() rs_s=() ri_s=()
for rep in $(seq 1 "$reps"); do
  # The daemon.
  rm -rf "$tmp/out-daemon" "$tmp/d/state"; cp "$tmp/d/base.db" "$tmp/d/run.db"
  conf "$tmp/d/drain.conf" "$tmp/d/run.db" "$tmp/out-daemon"
  cat "$tmp"/data/lights/*.fits "$tmp"/data/masters/*.fits >/dev/null # warm
  t0=$(now)
  "$build/astrocald" --config "$tmp/d/drain.conf" --drain >"$tmp/d/drain.log" 2>&1
  t1=$(now)
  n=$(sqlite3 "$tmp/d/run.db" "SELECT count(*) FROM astrocal_file WHERE state = 'done'")
  [ "$n" = "$lights" ] || { echo "daemon: $n of $lights done"; cat "$tmp/d/drain.log"; exit 1; }
  # The export: masters withheld until the queue is paused, so that nothing runs before.
  rm -rf "$tmp/out-shard" "$tmp/exp" "$tmp/d/state"; cp "$tmp/d/base.db" "$tmp/d/exp.db"
  sqlite3 "$tmp/d/exp.db" "CREATE TABLE m_hold AS SELECT * FROM Masters; DELETE FROM Masters;"
  conf "$tmp/d/exp.conf" "$tmp/d/exp.db" "$tmp/out-shard"
  "$build/astrocald" --config "$tmp/d/exp.conf" >"$tmp/d/exp.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
  ctl pause >/dev/null
  sqlite3 "$tmp/d/exp.db" "INSERT INTO Masters SELECT * FROM m_hold; DROP TABLE m_hold;"
  for _ in $(seq 1 300); do
    q=$(sqlite3 "$tmp/d/exp.db" "SELECT count(*) FROM astrocal_file WHERE state = 'pending'" 2>/dev/null || echo 0)
    [ "$q" = "$lights" ] && break; sleep 0.1
  done
  ctl export --all-uncalibrated --shards 1 --out "$tmp/exp" | head -1
  cat "$tmp"/data/lights/*.fits "$tmp"/data/masters/*.fits >/dev/null # warm
  t2=$(now)
  "$build/astrocald" calibrate --manifest "$tmp/exp/shard-0001.jsonl" \
    --results "$tmp/exp/shard-0001.results.jsonl" --jobs 2 --quiet >"$tmp/d/shard.log"
  t3=$(now)
  ctl import-results "$tmp/exp" | head -1
  t4=$(now)
  # The recalibration of every light with the replacement dark, pinned for its sessions.
  old=$(sqlite3 "$tmp/d/exp.db" "SELECT dark_path FROM astrocal_record LIMIT 1")
  sqlite3 "$tmp/d/exp.db" "INSERT INTO Masters (master_id, master_type, master_path,
    creation_date, telescope, instrument, exposure_time, binning_x, binning_y, ccd_temp, gain,
    offset, filter_name, source_session_id, file_count, quality_score, file_size, hash_value,
    cloud_url, is_validated, validation_date, notes, soft_delete) SELECT master_id || '-2',
    master_type, '$dark2', creation_date, telescope, instrument, exposure_time, binning_x,
    binning_y, ccd_temp, gain, offset, filter_name, source_session_id, file_count,
    quality_score, file_size, '$(md5sum "$dark2" | cut -c1-32)', cloud_url, is_validated,
    validation_date, notes, soft_delete FROM Masters WHERE master_path = '$old'"
  for sid in $(sqlite3 "$tmp/d/exp.db" "SELECT DISTINCT session_id FROM astrocal_file"); do
    ctl use "$sid" --dark "$dark2" >/dev/null
  done
  ctl export --calibrated-with "$old" --shards 1 --out "$tmp/exp2" | head -1
  cat "$tmp"/data/lights/*.fits "$dark2" >/dev/null # warm
  t5=$(now)
  "$build/astrocald" calibrate --manifest "$tmp/exp2/shard-0001.jsonl" \
    --results "$tmp/exp2/shard-0001.results.jsonl" --jobs 2 --quiet >"$tmp/d/shard2.log"
  t6=$(now)
  ctl import-results "$tmp/exp2" | head -1
  t7=$(now)
  n=$(sqlite3 "$tmp/d/exp.db" "SELECT count(*) FROM astrocal_record WHERE dark_path = '$dark2'")
  [ "$n" = "$lights" ] || { echo "recal: $n of $lights recorded with the new dark"; exit 1; }
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$tmp/exp2"
  d_s+=("$(echo "$t1 - $t0" | bc -l)") s_s+=("$(echo "$t3 - $t2" | bc -l)") i_s+=("$(echo "$t4 - $t3" | bc -l)")
  rs_s+=("$(echo "$t6 - $t5" | bc -l)") ri_s+=("$(echo "$t7 - $t6" | bc -l)")
  printf 'rep %d (load %s): daemon --drain %.2f s, shard %.2f s, import %.2f s; recal shard %.2f s, recal import %.2f s\n' "$rep" \
    "$(cut -d' ' -f1 /proc/loadavg)" "${d_s[-1]}" "${s_s[-1]}" "${i_s[-1]}" "${rs_s[-1]}" "${ri_s[-1]}"
done
printf 'median: recal shard %.2f s, recal import %.2f s\n' "$(median "${rs_s[@]}")" "$(median "${ri_s[@]}")"
md=$(median "${d_s[@]}") ms=$(median "${s_s[@]}") mi=$(median "${i_s[@]}")
printf 'median: daemon --drain %.2f s (%.2f frames/s), shard %.2f s (%.2f frames/s), import %.2f s; shard + import / daemon %.2f\n' \
  "$md" "$(echo "$lights / $md" | bc -l)" "$ms" "$(echo "$lights / $ms" | bc -l)" "$mi" \
  "$(echo "($ms + $mi) / $md" | bc -l)"
rm -rf "$tmp"
