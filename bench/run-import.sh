#!/usr/bin/env bash
# Registration speed (issue 12, item 5): `astrocalctl import` against AstroFiler's own
# importer (fitsProcessing().registerFitsImages, bench/af_register.py, run from
# ../shared/peers/astrofiler) on the same files, page cache dropped before each (as root),
# into fresh catalogues made by astrocald; then the same rows are compared (count, type,
# object, exposure, filter, SHA-256).
#   small  FILES lights of 1024x1024 (default 2000): files/s, target >= 10x AstroFiler;
#   large  LARGE lights of 6248x4176 (default 12): MB/s against `cat` of the same files
#          cold (the disk's read rate), target >= 0.85x, since registration must read every
#          byte once to hash it.
#
#   bench/run-import.sh [--files N] [--large N] [--tmp DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
files=2000 large=12 tmp=/work/bench-tmp-import build=/tmp/build-bench-import
source bench/common.sh
bench_options files large tmp build -- "$@"
bench_build "$build" astrocald astrocalctl acgen
rm -rf "$tmp"; mkdir -p "$tmp"
bench_machine
# new_db NAME: an empty AstroFiler catalogue made by astrocald; a daemon that registers but
# does not calibrate or build, left running for `astrocalctl import` (pid in $tmp/NAME.pid).
start_daemon() {
  local name=$1
  mkdir -p "$tmp/$name"
  cat >"$tmp/$name/astrocald.conf" <<CONF
[AUTO_CALIBRATION]
enable_light_calibration = False
[DAEMON]
database = $tmp/$name/astrofiler.db
socket = $tmp/$name/ctl.sock
state_dir = $tmp/$name/state
log_level = notice
[MASTERS]
build_masters = False
[WORKERS]
max_load_per_cpu = 0
cpu_pressure_limit = 0
nice = 0
io_class = none
CONF
  "$build/astrocald" --config "$tmp/$name/astrocald.conf" >"$tmp/$name/daemon.log" 2>&1 &
  echo $! >"$tmp/$name.pid"
  until "$build/astrocalctl" --socket "$tmp/$name/ctl.sock" status >/dev/null 2>&1; do sleep 0.02; done
}
stop_daemon() { kill -TERM "$(cat "$tmp/$1.pid")"; wait "$(cat "$tmp/$1.pid")" 2>/dev/null || true; }
compare_rows() { # A.db B.db
  local q="SELECT upper(fitsFileType), fitsFileObject, CAST(fitsFileExpTime AS REAL), fitsFileFilter, fitsFileHash FROM fitsfile ORDER BY fitsFileHash"
  if diff <(sqlite3 "$1" "$q") <(sqlite3 "$2" "$q") >/dev/null; then
    echo "  rows: the same ($(sqlite3 "$1" 'SELECT count(*) FROM fitsfile') in each: type, object, exposure, filter, SHA-256)"
  else
    echo "  rows: DIFFERENT"; diff <(sqlite3 "$1" "$q") <(sqlite3 "$2" "$q") | head -n 5
  fi
}
run_case() { # LABEL DIR NFILES
  local label=$1 dir=$2 n=$3 t0 t1 ta tb tc td bytes
  bytes=$(du -sb "$dir" | cut -f1)
  start_daemon "ac-$label"
  drop; t0=$(now)
  "$build/astrocalctl" --socket "$tmp/ac-$label/ctl.sock" import "$dir" | sed 's/^/  astrocald: /'
  t1=$(now)
  stop_daemon "ac-$label"
  start_daemon "af-$label"; stop_daemon "af-$label" # AstroFiler's schema, made by astrocald
  drop; ta=$(now)
  /usr/bin/python3 bench/af_register.py "$tmp/af-$label/astrofiler.db" "$(dirname "$dir")" >/dev/null 2>&1
  tb=$(now)
  drop; tc=$(now)
  cat "$dir"/*.fits >/dev/null
  td=$(now)
  printf '%s: %d files, %.0f MB\n' "$label" "$n" "$(echo "$bytes / 1000000" | bc -l)"
  printf '  astrocald import %.2f s (%.1f files/s, %.0f MB/s); AstroFiler %.2f s (%.1f files/s): %.1fx\n' \
    "$(echo "$t1 - $t0" | bc -l)" "$(echo "$n / ($t1 - $t0)" | bc -l)" "$(echo "$bytes / 1000000 / ($t1 - $t0)" | bc -l)" \
    "$(echo "$tb - $ta" | bc -l)" "$(echo "$n / ($tb - $ta)" | bc -l)" "$(echo "($tb - $ta) / ($t1 - $t0)" | bc -l)"
  printf '  cold cat of the same files %.2f s (%.0f MB/s): astrocald at %.2fx the disk read rate\n' \
    "$(echo "$td - $tc" | bc -l)" "$(echo "$bytes / 1000000 / ($td - $tc)" | bc -l)" "$(echo "($td - $tc) / ($t1 - $t0)" | bc -l)"
  compare_rows "$tmp/ac-$label/astrofiler.db" "$tmp/af-$label/astrofiler.db"
}
echo "generating $files lights of 1024x1024 and $large of 6248x4176"
"$build/tests/acgen" night "$tmp/small" --width 1024 --height 1024 --lights "$files" --masters none >/dev/null
"$build/tests/acgen" night "$tmp/large" --width 6248 --height 4176 --lights "$large" --masters none >/dev/null
run_case small "$tmp/small/lights" "$files"
run_case large "$tmp/large/lights" "$large"
rm -rf "$tmp"
