#!/usr/bin/env bash
# Grading benchmark (issue 11, bench/grading.md): does grading slow calibration down? The
# daemon calibrates a night of 26-megapixel lights, from `astrocalctl import` to the last
# file done, with [QUALITY] grading = False and = True alternately in one run (the machine
# is shared and loaded: each pair is compared, and the median of the pairs' ratios is the
# result). With --backlog, every run first calibrates a second night of --backlog lights
# and waits 6 s, so that with grading on the grading thread is busy with that night's
# lights when the measured night is imported (the worst case of a live night: lights
# arriving while grading runs). Per run it prints the calibration rate, when the last light
# was graded, the median wall and CPU seconds of a measurement (from the daemon's log), and
# how many measurements ended between the start of the import and the last light calibrated.
#
#   bench/run-grading.sh [--lights N] [--reps N] [--backlog N] [--size WxH] [--tmp DIR]
#                        [--build DIR]
#
# Run as root so the page cache can be dropped before every run. Uses about
# (lights + backlog) x 160 MB under --tmp, removed at the end. Target: the median ratio
# (grading on / off, frames/s) at least 0.87 (at most 15 % slower).
set -euo pipefail
cd "$(dirname "$0")/.."
lights=12 reps=3 backlog=0 size=6248x4176 tmp=/work/bench-tmp-grading
build=/tmp/build-bench-grading
while [ $# -gt 0 ]; do
  case $1 in
    --lights) lights=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --tmp) tmp=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
w=${size%x*} h=${size#*x}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target astrocald astrocalctl acgen >/dev/null
rm -rf "$tmp"; mkdir -p "$tmp"
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
echo "generating $lights lights of ${w}x${h} with float masters (backlog: $backlog lights)"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" --masters float >/dev/null
if [ "$backlog" -gt 0 ]; then
  "$build/tests/acgen" night "$tmp/backlog" --width "$w" --height "$h" --lights "$backlog" --masters none \
    --seed 99 --object "M 42" >/dev/null
  # calibrated with the first night's masters (same camera, exposure and filter)
fi

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: warm)"; }
now() { date +%s.%N; }
count() { echo "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# wait_done N: until N files are done (or failed)
wait_done() {
  while :; do
    st=$(ctl --json status)
    done_n=$(count "$st" done) fail_n=$(count "$st" failed)
    [ "$((done_n + fail_n))" -ge "$1" ] && break
    sleep 0.05
  done
  [ "$fail_n" = "0" ] || { echo "daemon: $fail_n files failed"; cat "$tmp/d/log"; exit 1; }
}

ratios=() off_all=() on_all=()
for rep in $(seq 1 "$reps"); do
  off_f=
  for grading in False True; do
    rm -rf "$tmp/d" "$tmp/out"; mkdir -p "$tmp/d"
    cat >"$tmp/d/astrocald.conf" <<CONF
[DAEMON]
database = $tmp/d/astrofiler.db
socket = $tmp/d/ctl.sock
state_dir = $tmp/d/state
output_dir = $tmp/out
log_level = info
[WORKERS]
workers = 2
[QUALITY]
grading = $grading
CONF
    drop
    "$build/astrocald" --config "$tmp/d/astrocald.conf" >"$tmp/d/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
    ctl() { "$build/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
    if [ "$backlog" -gt 0 ]; then
      ctl import "$tmp/data/masters" >/dev/null
      ctl import "$tmp/backlog" >/dev/null
      wait_done "$backlog"
      sleep 6 # grading starts 5 s after the last calibration (AC_GRADE_QUIET_S)
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    mark=$(wc -l <"$tmp/d/log")
    t0=$(now)
    ctl import "$tmp/data" >/dev/null
    wait_done "$((backlog + lights))"
    t1=$(now)
    t2=$t1
    if [ "$grading" = True ]; then
      while :; do
        m=$(ctl --json sessions | grep -o '"measured":[0-9]*' | cut -d: -f2 | paste -sd+ | bc)
        [ "${m:-0}" -ge "$((backlog + lights))" ] && break
        sleep 0.2
      done
      t2=$(now)
    fi
    kill -TERM "$pid"; wait "$pid" || true
    f=$(echo "$lights / ($t1 - $t0)" | bc -l)
    # Measurements that ended while the measured night was calibrated: log lines after the
    # import and before its last calibrated file.
    last=$(grep -n ' -> ' "$tmp/d/log" | tail -n 1 | cut -d: -f1)
    overlap=$(awk -v a="$mark" -v b="$last" 'NR > a && NR < b && / s CPU\)/' "$tmp/d/log" | wc -l)
    wall=$(grep -o '([0-9.]* s, [0-9.]* s CPU)' "$tmp/d/log" | cut -d'(' -f2 | cut -d' ' -f1 |
           sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}' || true)
    cpu=$(grep -o '([0-9.]* s, [0-9.]* s CPU)' "$tmp/d/log" | cut -d' ' -f3 |
          sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}' || true)
    printf 'rep %d grading=%-5s load %-5s calibrated %.2f frames/s (%.1f s)  all graded %.1f s after the import  measurement median %s s wall, %s s CPU  measurements during the calibration: %s\n' \
      "$rep" "$grading" "$load" "$f" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t0" | bc -l)" "$wall" "$cpu" "$overlap"
    if [ "$grading" = False ]; then off_f=$f; off_all+=("$f"); else
      on_all+=("$f"); ratios+=("$(echo "$f / $off_f" | bc -l)"); fi
    rm -rf "$tmp/out"
  done
done
printf 'pair ratios (on / off):'; printf ' %.3f' "${ratios[@]}"; echo
printf 'median rates: off %.2f frames/s, on %.2f frames/s; median pair ratio %.3f (target >= 0.87)\n' \
  "$(median "${off_all[@]}")" "$(median "${on_all[@]}")" "$(median "${ratios[@]}")"
rm -rf "$tmp"
