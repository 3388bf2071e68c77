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
# Each case is run --reps times (default 1), alternating astrocald, AstroFiler and `cat`
# (and, with --base DIR, first the astrocald and astrocalctl built in DIR, e.g. a Release
# build of main) so that
# each rep's ratios come from the same minutes of a shared machine; `uptime` before and
# after.
#
#   bench/run-import.sh [--files N] [--large N] [--reps N] [--base DIR] [--tmp DIR]
#                       [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
files=2000 large=12 reps=1 base="" tmp=/work/bench-tmp-import build=/tmp/build-bench-import
source bench/common.sh
bench_options files large reps base tmp build -- "$@"
bench_build "$build" astrocald astrocalctl acgen
[ -z "$base" ] || [ -x "$base/astrocald" ] || { echo "--base $base: no astrocald there" >&2; exit 64; }
rm -rf "$tmp"; mkdir -p "$tmp"
bench_machine
# start_daemon NAME [BUILD]: an empty AstroFiler catalogue made by astrocald; a daemon
# that registers but does not calibrate or build, left running for `astrocalctl import`
# (pid in $tmp/NAME.pid).
start_daemon() {
  local name=$1 b=${2:-$build}
  rm -rf "${tmp:?}/$name"; mkdir -p "$tmp/$name"
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
  "$b/astrocald" --config "$tmp/$name/astrocald.conf" >"$tmp/$name/daemon.log" 2>&1 &
  echo $! >"$tmp/$name.pid"
  until "$b/astrocalctl" --socket "$tmp/$name/ctl.sock" status >/dev/null 2>&1; do sleep 0.02; done
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
# import_once LABEL BUILD DIR: seconds of one cold `astrocalctl import DIR` into a fresh
# catalogue (the daemon's own line on stderr).
import_once() {
  local label=$1 b=$2 dir=$3 t0 t1
  start_daemon "$label" "$b"
  drop; t0=$(now)
  "$b/astrocalctl" --socket "$tmp/$label/ctl.sock" import "$dir" | sed "s/^/  $label: /" >&2
  t1=$(now)
  stop_daemon "$label"
  echo "$t1 - $t0" | bc -l
}
ratio() { echo "$1 / $2" | bc -l; }
run_case() { # LABEL DIR NFILES
  local label=$1 dir=$2 n=$3 tn tb ta tc bytes r
  bytes=$(du -sb "$dir" | cut -f1)
  printf '%s: %d files, %.0f MB\n' "$label" "$n" "$(echo "$bytes / 1000000" | bc -l)"
  for r in $(seq 1 "$reps"); do
    echo "  rep $r: uptime before: $(uptime | sed 's/.*load/load/')"
    tb=""
    [ -n "$base" ] && tb=$(import_once "base-$label" "$base" "$dir")
    tn=$(import_once "ac-$label" "$build" "$dir")
    start_daemon "af-$label"; stop_daemon "af-$label" # AstroFiler's schema, made by astrocald
    drop; ta=$(now)
    /usr/bin/python3 bench/af_register.py "$tmp/af-$label/astrofiler.db" "$(dirname "$dir")" >/dev/null 2>&1
    ta=$(echo "$(now) - $ta" | bc -l)
    drop; tc=$(now)
    cat "$dir"/*.fits >/dev/null
    tc=$(echo "$(now) - $tc" | bc -l)
    printf '  astrocald import %.2f s (%.1f files/s, %.0f MB/s); AstroFiler %.2f s (%.1f files/s): %.1fx\n' \
      "$tn" "$(ratio "$n" "$tn")" "$(ratio "$bytes / 1000000" "$tn")" "$ta" "$(ratio "$n" "$ta")" "$(ratio "$ta" "$tn")"
    [ -n "$tb" ] && printf '  astrocald of --base import %.2f s (%.1f files/s): this build %.2fx faster; base %.1fx AstroFiler\n' \
      "$tb" "$(ratio "$n" "$tb")" "$(ratio "$tb" "$tn")" "$(ratio "$ta" "$tb")"
    printf '  cold cat of the same files %.2f s (%.0f MB/s, %.1f files/s: the bound, %.1fx AstroFiler): astrocald at %.2fx the disk read rate\n' \
      "$tc" "$(ratio "$bytes / 1000000" "$tc")" "$(ratio "$n" "$tc")" "$(ratio "$ta" "$tc")" "$(ratio "$tc" "$tn")"
    echo "  rep $r: uptime after: $(uptime | sed 's/.*load/load/')"
  done
  compare_rows "$tmp/ac-$label/astrofiler.db" "$tmp/af-$label/astrofiler.db"
}
echo "generating $files lights of 1024x1024 and $large of 6248x4176"
"$build/tests/acgen" night "$tmp/small" --width 1024 --height 1024 --lights "$files" --masters none >/dev/null
"$build/tests/acgen" night "$tmp/large" --width 6248 --height 4176 --lights "$large" --masters none >/dev/null
run_case small "$tmp/small/lights" "$files"
run_case large "$tmp/large/lights" "$large"
rm -rf "$tmp"
