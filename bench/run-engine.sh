#!/usr/bin/env bash
# run-engine.sh - the calibration engine benchmark (issue 2). See bench/README.md.
#
# Builds astrocald and acgen (CMake, Release, own build directory), iofloor and
# startup_probe (cc), generates a synthetic night of 26-megapixel 16-bit lights with float32
# masters, then measures in interleaved rounds, dropping the page cache before every run:
#   floor-nosync / floor-sync        bench/iofloor.c, 2 threads, O_DIRECT, without/with fsync
#   catdd-sync                       bench/catdd.sh: the same bytes with cat and
#                                    dd oflag=direct conv=fsync, 2 streams, no project code
#   astrocald-nosync / -sync         astrocald calibrate --jobs 2, without/with --sync
#   siril                            Siril 1.0 preprocess, 2 threads, 32-bit output
#   ccdproc                          astropy ccdproc, 2 processes, on a subset of the lights
# and prints (and writes to RESULTS/report.md) the medians, ratios and target verdicts.
# --investigate adds the experiments behind the README's "where the time goes".
#
# Usage: bench/run-engine.sh [--lights N] [--reps N] [--tool-reps N] [--ccdproc-lights N]
#                            [--jobs N] [--size WxH] [--tmp DIR] [--build DIR] [--results DIR]
#                            [--investigate] [--no-siril] [--no-ccdproc] [--keep]
# Needs root for dropping the page cache (otherwise the inputs are warm and it says so).
# Disk: about 1.4 GB of inputs plus 2.1 GB of outputs at a time under --tmp, all removed at
# the end unless --keep.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
LIGHTS=20
REPS=5
TOOL_REPS=3
CCDPROC_LIGHTS=6
JOBS=2
TMP=/work/bench-tmp
BUILD=/tmp/build-bench
RESULTS=/tmp/astrocald-bench-$(date +%Y%m%d-%H%M%S)
INVESTIGATE=0
SIRIL=1
CCDPROC=1
KEEP=0
WIDTH=6248
HEIGHT=4176
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
    case "$1" in
    --lights) LIGHTS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --tool-reps) TOOL_REPS=$2; shift ;;
    --ccdproc-lights) CCDPROC_LIGHTS=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --size) WIDTH=${2%x*}; HEIGHT=${2#*x}; shift ;;
    --tmp) TMP=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --investigate) INVESTIGATE=1 ;;
    --no-siril) SIRIL=0 ;;
    --no-ccdproc) CCDPROC=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-engine.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

T_BEGIN=$(date +%s)
mkdir -p "$RESULTS/logs"
RES=$RESULTS/results.jsonl
: >"$RES"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- machine and cache control
DROP="sync"
if sync && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    DROP="sync; echo 3 > /proc/sys/vm/drop_caches"
    CACHE_NOTE="page cache dropped before every run (inputs and masters cold)"
else
    CACHE_NOTE="page cache could NOT be dropped (not root?): inputs are warm"
fi
{
    echo "date: $(date -Is)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
    echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    echo "kernel: $(uname -r)"
    echo "disk: $(df -h "$(dirname "$TMP")" | awk 'NR==2 {print $1 " " $2 " (" $4 " free)"}')," \
        "$(findmnt -no FSTYPE,OPTIONS --target "$(dirname "$TMP")")," \
        "scheduler $(cat /sys/block/"$(basename "$(findmnt -no SOURCE --target "$(dirname "$TMP")")")"/queue/scheduler 2>/dev/null || echo '?')"
    echo "cache: $CACHE_NOTE"
    echo "astrocald tree: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)" \
        "($(git -C "$SRC" status --porcelain -- daemon common 2>/dev/null | wc -l) changed files in daemon/ common/)"
    echo "siril: $(siril-cli --version 2>/dev/null | head -1 || echo missing)"
    echo "ccdproc: $($PY -c 'import ccdproc, astropy; print(ccdproc.__version__, "astropy", astropy.__version__)' 2>/dev/null || echo missing)"
    echo "cfitsio: $(pkg-config --modversion cfitsio)"
    echo "compiler: $(cc --version | head -1)"
    echo "lights: $LIGHTS x ${WIDTH}x${HEIGHT} 16-bit, masters float32; jobs $JOBS;" \
        "reps $REPS (Siril/ccdproc $TOOL_REPS); ccdproc lights $CCDPROC_LIGHTS"
} | tee "$RESULTS/machine.txt"

# ---------------------------------------------------------------- build
log "building astrocald and acgen in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAC_BUILD_BENCH=ON >"$RESULTS/logs/cmake.log" 2>&1
cmake --build "$BUILD" -j2 --target astrocald acgen >>"$RESULTS/logs/cmake.log" 2>&1
AC=$BUILD/astrocald
ACGEN=$BUILD/tests/acgen
mkdir -p "$RESULTS/bin"
IOFLOOR=$RESULTS/bin/iofloor
PROBE=$RESULTS/bin/startup_probe
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -Wall -Wextra -o "$IOFLOOR" "$HERE/iofloor.c" $(pkg-config --cflags --libs cfitsio)
cmake --build "$BUILD" -j2 --target startup_probe >/dev/null
cp "$BUILD/bench/startup_probe" "$PROBE"

# ---------------------------------------------------------------- data
DATA=$TMP/data
PARAMS="$WIDTH $HEIGHT $LIGHTS float"
if [ "$(cat "$DATA/params" 2>/dev/null)" != "$PARAMS" ]; then
    log "generating $LIGHTS lights ${WIDTH}x${HEIGHT} and float masters in $DATA"
    rm -rf "$DATA"
    "$ACGEN" night "$DATA" --width "$WIDTH" --height "$HEIGHT" --lights "$LIGHTS" \
        --masters float >"$RESULTS/logs/acgen.log"
    echo "$PARAMS" >"$DATA/params"
fi
mapfile -t LIGHT_FILES < <(find "$DATA/lights" -name '*.fits' | sort)
MB=$DATA/masters/master_bias.fits
MD=$DATA/masters/master_dark.fits
MF=$DATA/masters/master_flat.fits
MASTERS=(--bias "$MB" --dark "$MD" --flat "$MF")
OUT=$TMP/out
SIRD=$TMP/siril
if [ "$SIRIL" = 1 ]; then
    rm -rf "$SIRD"
    mkdir -p "$SIRD"
    siril-cli -d "$DATA/lights" -s "$HERE/siril-link.ssf" >"$RESULTS/logs/siril-link.log" 2>&1
    ln -s "$MB" "$MD" "$MF" "$SIRD/"
fi

# measure NAME KIND OUTGLOB ROUND [--warm] -- COMMAND...
measure() {
    local name=$1 kind=$2 glob=$3 round=$4 prep
    shift 4
    prep="rm -rf '$OUT' && mkdir -p '$OUT' && rm -f '$SIRD'/pp_light_* && $DROP"
    if [ "$1" = "--warm" ]; then
        # Inputs deliberately in the page cache: flush and drop, then read them once.
        prep="$prep && cat ${LIGHT_FILES[*]} '$MB' '$MD' '$MF' >/dev/null"
        shift
    fi
    shift # --
    $PY "$HERE/measure.py" run --name "$name" --kind "$kind" --results "$RES" \
        --log-dir "$RESULTS/logs" --out-glob "$glob" --round "$round" --prep "$prep" \
        --cleanup "rm -rf '$OUT' && rm -f '$SIRD'/pp_light_*" -- "$@"
}

run_floor() { # NAME ROUND [--warm] [iofloor options...]
    local name=$1 round=$2 warm=()
    shift 2
    if [ "${1:-}" = "--warm" ]; then warm=(--warm); shift; fi
    measure "$name" iofloor "$OUT/*.fits" "$round" "${warm[@]}" -- \
        "$IOFLOOR" -j "$JOBS" "$@" --masters "$MB" "$MD" "$MF" -o "$OUT" "${LIGHT_FILES[@]}"
}

run_catdd() { # NAME ROUND [catdd options...]
    local name=$1 round=$2
    shift 2
    measure "$name" iofloor "$OUT/*.fits" "$round" -- \
        "$HERE/catdd.sh" -j "$JOBS" "$@" --masters "$MB" "$MD" "$MF" -o "$OUT" "${LIGHT_FILES[@]}"
}

run_ac() { # NAME ROUND [--warm] [astrocald options...]
    local name=$1 round=$2 warm=()
    shift 2
    if [ "${1:-}" = "--warm" ]; then warm=(--warm); shift; fi
    measure "$name" astrocald "$OUT/*.fits" "$round" "${warm[@]}" -- \
        "$AC" calibrate --json "${MASTERS[@]}" --output-dir "$OUT" "$@" "${LIGHT_FILES[@]}"
}

run_siril() {
    measure siril siril "$SIRD/pp_light_*.fits" "$1" -- \
        stdbuf -oL siril-cli -d "$SIRD" -s "$HERE/siril-preprocess.ssf"
}

run_ccdproc() {
    measure ccdproc ccdproc "$OUT/*.fits" "$1" -- \
        $PY "$HERE/ccdproc_bench.py" --bias "$MB" --dark "$MD" --flat "$MF" --out "$OUT" \
        --procs "$JOBS" "${LIGHT_FILES[@]:0:$CCDPROC_LIGHTS}"
}

# ---------------------------------------------------------------- the benchmark
log "measuring: $REPS rounds ($CACHE_NOTE)"
for r in $(seq 1 "$REPS"); do
    log "round $r"
    run_floor floor-nosync "$r"
    run_ac astrocald-nosync "$r" --jobs "$JOBS"
    run_floor floor-sync "$r" --sync
    run_catdd catdd-sync "$r" --sync
    run_ac astrocald-sync "$r" --jobs "$JOBS" --sync
    if [ "$SIRIL" = 1 ] && [ "$r" -le "$TOOL_REPS" ]; then run_siril "$r"; fi
    if [ "$CCDPROC" = 1 ] && [ "$r" -le "$TOOL_REPS" ]; then run_ccdproc "$r"; fi
done

# ---------------------------------------------------------------- investigation
if [ "$INVESTIGATE" = 1 ]; then
    log "investigation: startup steps (startup_probe, cold)"
    for r in 1 2 3; do
        bash -c "$DROP"
        "$PROBE" "$MB" "$MD" "$MF" "${LIGHT_FILES[@]}" | tee -a "$RESULTS/startup_probe.txt"
        echo >>"$RESULTS/startup_probe.txt"
    done
    log "investigation: variants (3 rounds)"
    for r in 1 2 3; do
        run_ac x-ac-sync-jobs3 "$r" --jobs 3 --sync
        run_ac x-ac-sync-jobs4 "$r" --jobs 4 --sync
        run_floor x-floor-sync-j4 "$r" --sync -j 4
        run_ac x-ac-sync-jobmem16 "$r" --jobs "$JOBS" --sync --job-memory 16
        run_ac x-ac-sync-jobmem128 "$r" --jobs "$JOBS" --sync --job-memory 128
        run_ac x-ac-sync-buffered "$r" --jobs "$JOBS" --sync --no-direct-io
        run_floor x-floor-sync-buffered "$r" --sync --buffered
        run_ac x-ac-sync-warm "$r" --warm --jobs "$JOBS" --sync
        run_floor x-floor-sync-warm "$r" --warm --sync
    done
    if command -v perf >/dev/null; then
        log "investigation: perf profile of astrocald --sync (cold)"
        rm -rf "$OUT" && mkdir -p "$OUT" && bash -c "$DROP"
        perf record -F 1999 -o "$RESULTS/perf.data" -- "$AC" calibrate --quiet "${MASTERS[@]}" \
            --output-dir "$OUT" --jobs "$JOBS" --sync "${LIGHT_FILES[@]}" \
            >"$RESULTS/logs/perf-run.log" 2>&1
        { perf report -i "$RESULTS/perf.data" --no-children --sort pid,dso,sym --stdio \
            -g none 2>/dev/null || true; } | grep '%' | head -45 >"$RESULTS/perf-top.txt" || true
        { perf report -i "$RESULTS/perf.data" --no-children --sort pid --stdio -g none \
            2>/dev/null || true; } | grep '%' >"$RESULTS/perf-threads.txt" || true
        rm -f "$RESULTS/perf.data"
        rm -rf "$OUT"
        cat "$RESULTS/perf-threads.txt" "$RESULTS/perf-top.txt"
    fi
fi

# ---------------------------------------------------------------- report and clean-up
log "report"
$PY "$HERE/measure.py" report --results "$RES" --jobs "$JOBS" --masters "$MB" "$MD" "$MF" \
    --light-bytes "$(stat -c %s "${LIGHT_FILES[0]}")" --markdown "$RESULTS/report.md"
if [ "$KEEP" = 0 ]; then
    rm -rf "$TMP"
fi
log "done in $(($(date +%s) - T_BEGIN)) s; results in $RESULTS"
