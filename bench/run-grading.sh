#!/usr/bin/env bash
# Grading benchmark (issue 11): does grading slow calibration down? The daemon calibrates a
# night of 26-megapixel lights, from `astrocalctl import` to the last file done, with
# [QUALITY] grading = False and = True alternately in one run (the machine is shared and
# loaded: alternating, and comparing each pair, cancels most of the drift); with grading
# on, the time until the last light is graded too, and each measurement's own time from the
# log. Prints every run, the medians and the ratio (target: calibration with grading at
# most 15 % slower, ratio >= 0.87 in frames/s).
#
#   bench/run-grading.sh [--lights N] [--reps N] [--size WxH] [--tmp DIR] [--build DIR]
#
# Run as root so the page cache can be dropped before every run. Uses about
# lights x 160 MB under --tmp, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
lights=12 reps=3 size=6248x4176 tmp=/work/bench-tmp-grading build=/tmp/build-bench-grading
while [ $# -gt 0 ]; do
  case $1 in
    --lights) lights=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
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
echo "generating $lights lights of ${w}x${h} with float masters"
"$build/tests/acgen" night "$tmp/data" --width "$w" --height "$h" --lights "$lights" --masters float >/dev/null

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: warm)"; }
now() { date +%s.%N; }
count() { echo "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }

declare -A fps graded_s
for rep in $(seq 1 "$reps"); do
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
    load=$(cut -d' ' -f1 /proc/loadavg)
    "$build/astrocald" --config "$tmp/d/astrocald.conf" >"$tmp/d/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do [ -S "$tmp/d/ctl.sock" ] && break; sleep 0.05; done
    ctl() { "$build/astrocalctl" --socket "$tmp/d/ctl.sock" "$@"; }
    t0=$(now)
    ctl import "$tmp/data" >/dev/null
    while :; do
      st=$(ctl --json status)
      done_n=$(count "$st" done) fail_n=$(count "$st" failed)
      [ "$((done_n + fail_n))" -ge "$lights" ] && break
      sleep 0.05
    done
    t1=$(now)
    [ "$fail_n" = "0" ] || { echo "daemon: $fail_n files failed"; cat "$tmp/d/log"; exit 1; }
    t2=$t1
    if [ "$grading" = True ]; then
      sid=$(ctl --json sessions | grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4)
      while :; do
        m=$(ctl --json grade "$sid" | grep -o '"measured":[0-9]*' | head -n 1 | cut -d: -f2)
        [ "${m:-0}" -ge "$lights" ] && break
        sleep 0.2
      done
      t2=$(now)
    fi
    kill -TERM "$pid"; wait "$pid" || true
    f=$(echo "$lights / ($t1 - $t0)" | bc -l)
    fps[$grading]="${fps[$grading]:-} $f"
    per=$(grep -o 'SNR [0-9]* ([0-9.]* s)' "$tmp/d/log" | grep -o '([0-9.]*' | tr -d '(' |
          sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}' || true)
    printf 'rep %d grading=%-5s load %-5s calibrated %.2f frames/s (%.1f s)  all graded after %.1f s  median measurement %s s\n' \
      "$rep" "$grading" "$load" "$f" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t0" | bc -l)" "$per"
    rm -rf "$tmp/out"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# shellcheck disable=SC2086
off=$(median ${fps[False]}) on=$(median ${fps[True]})
printf 'median calibration: grading off %.2f frames/s, on %.2f frames/s, ratio %.3f (target >= 0.87)\n' \
  "$off" "$on" "$(echo "$on / $off" | bc -l)"
rm -rf "$tmp"
