#!/usr/bin/env bash
# run-masters.sh - the master building benchmark (issue 4). See bench/masters.md.
#
# Builds astrocald (CMake, Release, own build directory) and bench/buildmaster.c against its
# static libraries, generates N raw 16-bit darks (`acgen frame --type dark --index 1..N`),
# links them into a Siril sequence, then measures in interleaved rounds, each tool once with
# the page cache dropped ("cold") and once with the inputs read into it first ("warm"):
#   astrocald   bench/buildmaster: ac_build_run with the daemon's build options (job memory
#               job_memory_mib x 4 = 128 MiB, sigma clipping 3/3, 3 passes, durable float32
#               output): exactly one daemon build job, without the catalogue around it
#   siril       Siril 1.0 `stack dark rej s 3 3 -nonorm` (bench/siril-stack.ssf): 2 threads,
#               32-bit output, no compression
# Every run goes under /usr/bin/time -v (peak RSS); the load average and the CPU used by
# other processes are noted, and a run where others used more than 25 % of the machine is
# repeated (up to 2 more times). After the rounds:
#   - the combination alone on 1 and 2 threads (buildmaster --kernel), warm;
#   - a check that the two masters agree (Siril's is scaled to [0, 1]);
#   --investigate  where the time goes: perf record -g of one cold astrocald build, and
#               in every round a cold run of "astrocald-prefetch" (buildmaster --prefetch:
#               the subs read ahead into the page cache by a second thread, an experiment
#               showing what asynchronous read-ahead in the builder would give);
#   --daemon    the daemon end to end, cold, once per round: `astrocalctl import` of the
#               darks' folder until the master is registered (SHA-256 registration,
#               sessions, the build at the daemon's nice 10 / idle I/O class).
# Prints, and writes to RESULTS/report.md, every run, the medians, ratios and verdicts.
#
# Usage: bench/run-masters.sh [--subs N] [--size WxH] [--reps N] [--job-memory-mib N]
#                             [--tmp DIR] [--build DIR] [--results DIR] [--no-warm]
#                             [--no-siril] [--investigate] [--daemon] [--keep]
# Needs root for dropping the page cache (otherwise "cold" runs are warm and it says so).
# Disk: N x 52 MB of inputs plus two 104 MB masters under --tmp, removed at the end unless
# --keep. Time: about 3 minutes for the defaults, plus about 1 minute each for
# --investigate and --daemon.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
SUBS=20
WIDTH=6248
HEIGHT=4176
REPS=3
JOB_MIB=128
TMP=/work/bench-tmp-masters
BUILD=/tmp/build-bench-masters
RESULTS=/tmp/astrocald-masters-$(date +%Y%m%d-%H%M%S)
WARM=1
SIRIL=1
INVESTIGATE=0
DAEMON=0
KEEP=0
NOISY_PCT=25

while [ $# -gt 0 ]; do
    case "$1" in
    --subs) SUBS=$2; shift ;;
    --size) WIDTH=${2%x*}; HEIGHT=${2#*x}; shift ;;
    --reps) REPS=$2; shift ;;
    --job-memory-mib) JOB_MIB=$2; shift ;;
    --tmp) TMP=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --no-warm) WARM=0 ;;
    --no-siril) SIRIL=0 ;;
    --investigate) INVESTIGATE=1 ;;
    --daemon) DAEMON=1 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n "2,33p" "$0"; exit 0 ;;
    *) echo "run-masters.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done

T_BEGIN=$(date +%s)
LOGS=$RESULTS/logs
mkdir -p "$LOGS" "$RESULTS/bin"
RES=$RESULTS/results.jsonl
: >"$RES"
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
PY=/usr/bin/python3
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- machine and cache control
if sync && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    CAN_DROP=1
    CACHE_NOTE="cold runs: page cache dropped before the run; warm runs: dropped, then the inputs read once"
else
    CAN_DROP=0
    CACHE_NOTE="page cache could NOT be dropped (not root?): every run is warm"
fi
{
    echo "date: $(date -Is)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') x $NCPU"
    echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    echo "kernel: $(uname -r)"
    echo "disk: $(df -h "$(dirname "$TMP")" | awk 'NR==2 {print $1 " " $2 " (" $4 " free)"}')," \
        "$(findmnt -no FSTYPE,OPTIONS --target "$(dirname "$TMP")")"
    echo "cache: $CACHE_NOTE"
    echo "astrocald tree: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)" \
        "($(git -C "$SRC" status --porcelain -- daemon common 2>/dev/null | wc -l) changed files in daemon/ common/)"
    echo "siril: $(siril-cli --version 2>/dev/null | head -1 || echo missing)"
    echo "cfitsio: $(pkg-config --modversion cfitsio)"
    echo "compiler: $(cc --version | head -1)"
    echo "subs: $SUBS x ${WIDTH}x${HEIGHT} 16-bit darks; astrocald job memory $JOB_MIB MiB;" \
        "reps $REPS; uptime: $(uptime)"
} | tee "$RESULTS/machine.txt"

# ---------------------------------------------------------------- build
log "building astrocald, astrocalctl and acgen in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DAC_BUILD_BENCH=ON >"$LOGS/cmake.log" 2>&1
# bench/buildmaster: the same flags as the Release build, linked with the work layer.
cmake --build "$BUILD" -j2 --target astrocald astrocalctl acgen buildmaster >>"$LOGS/cmake.log" 2>&1
BM=$RESULTS/bin/buildmaster
cp "$BUILD/bench/buildmaster" "$BM"
ACGEN=$BUILD/tests/acgen

# ---------------------------------------------------------------- data
DATA=$TMP/darks
SIRD=$TMP/siril
OUT=$TMP/out
PARAMS="$WIDTH $HEIGHT $SUBS dark16"
if [ "$(cat "$TMP/params" 2>/dev/null)" != "$PARAMS" ]; then
    log "generating $SUBS darks ${WIDTH}x${HEIGHT} in $DATA"
    rm -rf "$TMP"
    mkdir -p "$DATA"
    for i in $(seq 1 "$SUBS"); do
        "$ACGEN" frame "$(printf '%s/dark_%03d.fits' "$DATA" "$i")" --type dark \
            --width "$WIDTH" --height "$HEIGHT" --index "$i" >>"$LOGS/acgen.log"
    done
    echo "$PARAMS" >"$TMP/params"
fi
mapfile -t SUB_FILES < <(find "$DATA" -name 'dark_*.fits' | sort)
SUB_BYTES=$(stat -c %s "${SUB_FILES[0]}")
mkdir -p "$OUT"
AC_MASTER=$OUT/master_dark_astrocald.fits
SIRIL_MASTER=$SIRD/master_dark_siril.fits
if [ "$SIRIL" = 1 ]; then
    rm -rf "$SIRD"
    mkdir -p "$SIRD"
    # The sequence: symbolic links dark_00001.fits ... and dark_.seq in $SIRD (not timed
    # in the rounds: Siril's equivalent of the catalogue astrocald reads its frames from).
    printf 'requires 1.0.0\nsetext fits\nlink dark -out=%s\n' "$SIRD" >"$RESULTS/bin/siril-link.ssf"
    t0=$(date +%s.%N)
    siril-cli -d "$DATA" -s "$RESULTS/bin/siril-link.ssf" >"$LOGS/siril-link.log" 2>&1
    echo "siril link: $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$RESULTS/machine.txt"
fi

# ---------------------------------------------------------------- measurement
# busy and total jiffies of the whole machine (idle and iowait count as idle)
jiffies() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

# Waits (at most about 30 s) until other processes use less than 30 % of the CPUs; prints
# the last share seen, in percent.
wait_quiet() {
    local b0 t0 b1 t1 share=100
    for _ in $(seq 1 20); do
        read -r b0 t0 < <(jiffies)
        sleep 1
        read -r b1 t1 < <(jiffies)
        share=$(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
        [ "$share" -lt 30 ] && break
    done
    echo "$share"
}

# time_field NAME FILE: a figure of /usr/bin/time -v's report.
time_field() { awk -F': ' -v k="$1" 'index($0, "\t" k) == 1 {print $2}' "$2"; }

# Puts the page cache in the state CACHE asks for.
prep_cache() {
    sync
    if [ "$CAN_DROP" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
    if [ "$1" = warm ]; then cat "${SUB_FILES[@]}" >/dev/null; fi
}

# measure NAME CACHE ROUND OUTPUT -- COMMAND...: one measurement (repeated while noisy);
# appends one JSON record per attempt to $RES.
measure() {
    local name=$1 cache=$2 round=$3 output=$4 attempt tag quiet load b0 b1 t0 t1 ts
    local wall flush rss user sys rc foreign noisy extra
    shift 5
    for attempt in 1 2 3; do
        tag=$name-$cache-r$round-a$attempt
        quiet=$(wait_quiet)
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        rm -f "$output"
        prep_cache "$cache"
        read -r b0 _ < <(jiffies)
        t0=$(date +%s.%N)
        rc=0
        /usr/bin/time -v -o "$LOGS/$tag.time" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err" || rc=$?
        t1=$(date +%s.%N)
        read -r b1 _ < <(jiffies)
        ts=$(date +%s.%N)
        sync
        flush=$(echo "$(date +%s.%N) - $ts" | bc -l)
        wall=$(echo "$t1 - $t0" | bc -l)
        rss=$(time_field 'Maximum resident set size' "$LOGS/$tag.time")
        user=$(time_field 'User time' "$LOGS/$tag.time")
        sys=$(time_field 'System time' "$LOGS/$tag.time")
        foreign=$(echo "f = ($b1 - $b0) / $HZ - $user - $sys; if (f < 0) f = 0; f / ($wall * $NCPU)" | bc -l)
        noisy=$(echo "$foreign * 100 > $NOISY_PCT" | bc)
        extra='{}'
        if [[ $name == astrocald* ]] && [ -s "$LOGS/$tag.out" ]; then
            extra=$(head -n 1 "$LOGS/$tag.out")
        elif [ "$name" = siril ]; then
            extra=$(sed -n 's/.*log: Execution time: \([0-9.]*\) \(m\?s\).*/\1 \2/p' "$LOGS/$tag.out" |
                head -n 1 | awk '{printf "{\"stack_s\":%s}", $2 == "ms" ? $1 / 1000 : $1}')
            [ -n "$extra" ] || extra='{}'
            if [ "$rc" = 0 ] && ! grep -q 'Stacked sequence successfully' "$LOGS/$tag.out"; then
                rc=1
            fi
        elif [ "$name" = daemon ] && [ -s "$LOGS/$tag.out" ]; then
            extra=$(tail -n 1 "$LOGS/$tag.out")
        fi
        if [ "$rc" = 0 ] && [ ! -s "$output" ]; then rc=1; fi
        $PY -c 'import json, sys
rec = dict(zip(["name", "cache", "round", "attempt", "wall_s", "rss_kib", "user_s", "sys_s",
                "flush_after_s", "foreign_share", "quiet_pct_before", "exit"],
               [sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])] +
               [float(x) for x in sys.argv[5:13]]))
rec["load_at_start"] = sys.argv[13]
rec["noisy"] = sys.argv[14] == "1"
rec["frames"] = int(sys.argv[15])
for k, v in json.loads(sys.argv[16]).items():  # figures the tool printed
    rec[k if k not in rec else "self_" + k] = v
print(json.dumps(rec))' "$name" "$cache" "$round" "$attempt" "$wall" "$rss" "$user" "$sys" \
            "$flush" "$foreign" "$quiet" "$rc" "$load" "$noisy" "$SUBS" "$extra" >>"$RES"
        printf '  %-9s %-4s round %s: load %s, %6.2f s = %5.2f frames/s, CPU %5.2f s, RSS %5d MiB, others %4.1f%%%s\n' \
            "$name" "$cache" "$round" "$load" "$wall" "$(echo "$SUBS / $wall" | bc -l)" \
            "$(echo "$user + $sys" | bc -l)" "$((rss / 1024))" "$(echo "$foreign * 100" | bc -l)" \
            "$([ "$noisy" = 1 ] && [ "$attempt" -lt 3 ] && echo '  NOISY, repeating')"
        if [ "$rc" != 0 ]; then
            echo "    FAILED (exit $rc): see $LOGS/$tag.*" >&2
            tail -n 5 "$LOGS/$tag.out" "$LOGS/$tag.err" >&2
            return 1
        fi
        [ "$noisy" = 1 ] || break
    done
}

run_astrocald() { # CACHE ROUND
    measure astrocald "$1" "$2" "$AC_MASTER" -- \
        "$BM" --job-memory-mib "$JOB_MIB" -o "$AC_MASTER" "${SUB_FILES[@]}"
}

run_siril() { # CACHE ROUND
    measure siril "$1" "$2" "$SIRIL_MASTER" -- \
        siril-cli -d "$SIRD" -s "$HERE/siril-stack.ssf"
}

# The daemon end to end: a fresh daemon and database, `astrocalctl import` of the darks'
# folder, polling until the master is registered (a Masters row in masters_dir). The last
# line (JSON): how long the import command took, the time to the master registered, the
# daemon's own build time from its log, and the daemon's peak RSS (VmHWM) just before it
# is stopped.
daemon_once() {
    local d=$TMP/daemon pid t0 t1 ti n build_s hwm
    rm -rf "$d"
    mkdir -p "$d"
    cat >"$d/astrocald.conf" <<CONF
[DAEMON]
database = $d/astrofiler.db
socket = $d/ctl.sock
state_dir = $d/state
output_dir = $d/out
log_level = info
[WORKERS]
workers = 2
job_memory_mib = $((JOB_MIB / 4))
[MASTERS]
masters_dir = $d/Masters
build_settle_s = 0
CONF
    ctl() { "$BUILD/astrocalctl" --socket "$d/ctl.sock" "$@"; }
    "$BUILD/astrocald" --config "$d/astrocald.conf" >"$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do [ -S "$d/ctl.sock" ] && break; sleep 0.05; done
    t0=$(date +%s.%N)
    ctl import "$DATA" >&2
    ti=$(echo "$(date +%s.%N) - $t0" | bc -l)
    for _ in $(seq 1 6000); do
        n=$(ctl --json masters | grep -o "\"path\":\"$d/Masters/[^\"]*\"" | wc -l || true)
        [ "$n" -ge 1 ] && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    cat "$d/log" >&2
    find "$d/Masters" -name "*.fits" -exec cp {} "$TMP/daemon-master.fits" \;
    build_s=$(sed -n 's/.*master built: .*frames, \([0-9.]*\) s,.*/\1/p' "$d/log" | head -n 1)
    printf '{"import_s":%.4f,"registered_s":%.4f,"build_s":%s,"daemon_rss_kib":%d}\n' \
        "$ti" "$(echo "$t1 - $t0" | bc -l)" "${build_s:-null}" "${hwm:-0}"
    rm -rf "$d"
}

DAEMON_SCRIPT=$RESULTS/bin/daemon-once.sh
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    printf 'BUILD=%q TMP=%q DATA=%q JOB_MIB=%q\n' "$BUILD" "$TMP" "$DATA" "$JOB_MIB"
    declare -f daemon_once
    echo 'daemon_once'
} >"$DAEMON_SCRIPT"

run_daemon() { # ROUND
    measure daemon cold "$1" "$TMP/daemon-master.fits" -- bash "$DAEMON_SCRIPT"
}

# ---------------------------------------------------------------- the benchmark
CACHES=(cold)
[ "$WARM" = 1 ] && CACHES+=(warm)
log "measuring: $REPS rounds ($CACHE_NOTE)"
for r in $(seq 1 "$REPS"); do
    log "round $r: $(uptime)"
    for c in "${CACHES[@]}"; do
        # Alternate which tool goes first, so neither always follows the other.
        if [ $((r % 2)) = 1 ] || [ "$SIRIL" = 0 ]; then
            run_astrocald "$c" "$r"
            [ "$SIRIL" = 0 ] || run_siril "$c" "$r"
        else
            run_siril "$c" "$r"
            run_astrocald "$c" "$r"
        fi
    done
    if [ "$INVESTIGATE" = 1 ]; then
        measure astrocald-prefetch cold "$r" "$AC_MASTER" -- \
            "$BM" --prefetch --job-memory-mib "$JOB_MIB" -o "$AC_MASTER" "${SUB_FILES[@]}"
    fi
    if [ "$DAEMON" = 1 ]; then run_daemon "$r"; fi
done

# ---------------------------------------------------------------- the combination alone
log "the combination alone (buildmaster --kernel, 256 rows of every sub in memory)"
for t in 1 2; do
    wait_quiet >/dev/null
    "$BM" --kernel --threads "$t" --rows 256 --reps 7 "${SUB_FILES[@]}" | tee -a "$RESULTS/kernel.jsonl"
done

# ---------------------------------------------------------------- agreement of the masters
if [ "$SIRIL" = 1 ] && $PY -c 'import astropy, numpy' 2>/dev/null; then
    log "comparing the masters"
    $PY - "$AC_MASTER" "$SIRIL_MASTER" <<'EOF' | tee "$RESULTS/agreement.txt"
import sys
import numpy as np
from astropy.io import fits
a = fits.getdata(sys.argv[1]).astype(np.float64)
b = fits.getdata(sys.argv[2]).astype(np.float64)
scale = 65535.0 if np.nanmedian(b) < 2 else 1.0  # Siril's 32-bit output is in [0, 1]
d = a - b * scale
print("astrocald median %.4f ADU, Siril median %.4f ADU (x %.0f)" % (
    np.median(a), np.median(b) * scale, scale))
print("difference: median %.3g ADU, 99.99th percentile of |d| %.3g ADU, max |d| %.3g ADU, "
      "pixels with |d| > 0.01 ADU: %d of %d" % (np.median(d), np.percentile(np.abs(d), 99.99),
                                                np.abs(d).max(), int((np.abs(d) > 0.01).sum()),
                                                d.size))
EOF
fi

# ---------------------------------------------------------------- profile
if [ "$INVESTIGATE" = 1 ] && command -v perf >/dev/null; then
    log "profile: perf record -g of one cold astrocald build"
    rm -f "$AC_MASTER"
    prep_cache cold
    perf record -g -F 999 -o "$RESULTS/perf.data" -- "$BM" --job-memory-mib "$JOB_MIB" \
        -o "$AC_MASTER" "${SUB_FILES[@]}" >"$LOGS/perf-run.out" 2>"$LOGS/perf-run.err"
    { perf report -i "$RESULTS/perf.data" --no-children --sort dso,sym --stdio -g none \
        2>/dev/null || true; } | grep '%' | head -40 >"$RESULTS/perf-self.txt" || true
    { perf report -i "$RESULTS/perf.data" --children --sort sym --stdio -g none \
        2>/dev/null || true; } | grep '%' | head -60 >"$RESULTS/perf-children.txt" || true
    rm -f "$RESULTS/perf.data"
    cat "$LOGS/perf-run.out" "$RESULTS/perf-self.txt"
fi

# ---------------------------------------------------------------- report
log "report"
$PY - "$RES" "$RESULTS/kernel.jsonl" "$SUBS" "$JOB_MIB" "$SUB_BYTES" <<'EOF' | tee "$RESULTS/report.md"
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kern = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
subs, job_mib, sub_bytes = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
BUDGET_MIB = 2048  # memory_budget_mib, the configured daemon budget

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def f(x, d=2):
    return "-" if x is None else "%.*f" % (d, x)

print("### Every run\n")
print("| tool | cache | round | try | load at start | others' CPU | wall s | frames/s | "
      "CPU s | peak RSS MiB | sync after s | notes |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in recs:
    note = ""
    if r["name"].startswith("astrocald"):
        note = "read %.2f, combine %.2f, write %.2f, other %.2f; %s rows/strip" % (
            r["t_read"], r["t_combine"], r["t_write"], r["t_other"], r["strip_rows"])
    elif r["name"] == "siril" and "stack_s" in r:
        note = "stack command %.2f s" % r["stack_s"]
    elif r["name"] == "daemon":
        note = "import to registered %.2f s (import %.2f, build %s); daemon VmHWM %d MiB" % (
            r.get("registered_s", 0), r.get("import_s", 0), r.get("build_s"),
            (r.get("daemon_rss_kib") or 0) // 1024)
    print("| %s | %s | %d | %d | %s | %.0f%%%s | %.2f | %.2f | %.2f | %.0f | %.2f | %s |" % (
        r["name"], r["cache"], r["round"], r["attempt"], r["load_at_start"],
        100 * r["foreign_share"], " (noisy)" if r["noisy"] else "", r["wall_s"],
        subs / r["wall_s"], r["user_s"] + r["sys_s"], r["rss_kib"] / 1024,
        r["flush_after_s"], note))

groups = {}
for r in recs:
    groups.setdefault((r["name"], r["cache"]), []).append(r)
# Medians over the clean runs (all runs when every one was noisy).
summ = {}
for k, rs in groups.items():
    clean = [r for r in rs if not r["noisy"]] or rs
    s = {"runs": len(clean), "wall": med([r["wall_s"] for r in clean]),
         "cpu": med([r["user_s"] + r["sys_s"] for r in clean]),
         "rss": max(r["rss_kib"] for r in clean) / 1024,
         "flush": med([r["flush_after_s"] for r in clean]),
         "fps_min": subs / max(r["wall_s"] for r in clean),
         "fps_max": subs / min(r["wall_s"] for r in clean)}
    for key in ("t_read", "t_combine", "t_write", "t_other", "stack_s", "build_s",
                "registered_s", "import_s"):
        vals = [r.get(key) for r in clean if r.get(key) is not None]
        s[key] = med(vals) if vals else None
    s["fps"] = subs / s["wall"]
    s["fps_cpu"] = subs / s["cpu"] if s["cpu"] else None
    summ[k] = s

print("\n### Medians (%d subs, %.1f MB each)\n" % (subs, sub_bytes / 1e6))
print("| tool | cache | runs | wall s | frames/s (min-max) | input MB/s | CPU s | frames per CPU-s "
      "| CPU use (of %d cores) | peak RSS MiB (max) | sync after s |" % 2)
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (name, cache), s in sorted(summ.items()):
    print("| %s | %s | %d | %.2f | **%.2f** (%.2f-%.2f) | %.0f | %.2f | %s | %.2f | %.0f | %.2f |" % (
        name, cache, s["runs"], s["wall"], s["fps"], s["fps_min"], s["fps_max"],
        subs * sub_bytes / 1e6 / s["wall"], s["cpu"], f(s["fps_cpu"]),
        s["cpu"] / s["wall"], s["rss"], s["flush"]))
for (name, cache), s in sorted(summ.items()):
    if name.startswith("astrocald"):
        print("\n%s %s, the builder's own split (median s): read %.2f, combine %.2f, "
              "write %.2f, other (open, pilot, quality, MD5) %.2f" % (
                  name, cache, s["t_read"], s["t_combine"], s["t_write"], s["t_other"]))
    if name == "daemon":
        print("\ndaemon end to end (cold; the daemon row above is the whole process: start, "
              "import, build, stop): `astrocalctl import` to master registered %.2f s median = "
              "%.2f frames/s; the import command itself %.2f s; the build %s s (daemon log)" % (
                  s["registered_s"], subs / s["registered_s"], s["import_s"],
                  f(s["build_s"], 1)))

if kern:
    print("\n### The combination alone (sigma clipping, %d subs, in memory)\n" % subs)
    print("| threads | ns per output pixel (median) | ns per value | one frame s | frames/s |")
    print("|---|---|---|---|---|")
    for k in kern:
        print("| %d | %.1f | %.2f | %.2f | %.1f |" % (k["threads"], k["ns_per_pixel_median"],
              k["ns_per_value_median"], k["frame_combine_s"], k["combine_only_fps"]))

print("\n### Targets\n")
print("| target | cache | value | met? |")
print("|---|---|---|---|")
for cache in ("cold", "warm"):
    a, s = summ.get(("astrocald", cache)), summ.get(("siril", cache))
    if a and s:
        ratio = a["fps"] / s["fps"]
        print("| astrocald >= 2 x Siril frames/s | %s | **%.2f x** (%.2f vs %.2f frames/s) | %s |" % (
            cache, ratio, a["fps"], s["fps"], "yes" if ratio >= 2 else "**no**"))
        if a["fps_cpu"] and s["fps_cpu"]:
            print("| (info) per core: frames per CPU-second, astrocald / Siril | %s | %.2f x "
                  "(%.2f vs %.2f) | |" % (cache, a["fps_cpu"] / s["fps_cpu"], a["fps_cpu"],
                                          s["fps_cpu"]))
        print("| (info) both counted until their data is flushed | %s | %.2f x | |" % (
            cache, (s["wall"] + s["flush"]) / (a["wall"] + a["flush"])))
        if s.get("stack_s"):
            print("| (info) against Siril's own time for the stack command (its start-up "
                  "excluded) | %s | %.2f x (%.2f frames/s) | |" % (
                      cache, a["fps"] * s["stack_s"] / subs, subs / s["stack_s"]))
        p = summ.get(("astrocald-prefetch", cache))
        if p:
            print("| (info) experiment: astrocald with the subs read ahead (--prefetch) / "
                  "Siril | %s | %.2f x (%.2f frames/s) | |" % (cache, p["fps"] / s["fps"],
                                                             p["fps"]))
        d = summ.get(("daemon", cache))
        if d and d.get("registered_s"):
            print("| (info) daemon, `import` to master registered (SHA-256 registration "
                  "included) / Siril | %s | %.2f x (%.2f frames/s) | |" % (
                      cache, subs / d["registered_s"] / s["fps"], subs / d["registered_s"]))
for cache in ("cold", "warm"):
    a = summ.get(("astrocald", cache))
    if a:
        print("| astrocald peak RSS < memory_budget_mib (%d MiB) | %s | %.0f MiB | %s |" % (
            BUDGET_MIB, cache, a["rss"], "yes" if a["rss"] < BUDGET_MIB else "**no**"))
        print("| (info) astrocald peak RSS vs the build's job memory (%d MiB) | %s | %.0f MiB | %s |" % (
            job_mib, cache, a["rss"], "within" if a["rss"] <= job_mib else "above"))
d = summ.get(("daemon", "cold"))
if d:
    rss = max((r.get("daemon_rss_kib") or 0) for r in groups[("daemon", "cold")]) / 1024
    print("| daemon peak RSS < memory_budget_mib (%d MiB) | cold | %.0f MiB | %s |" % (
        BUDGET_MIB, rss, "yes" if rss < BUDGET_MIB else "**no**"))
s = summ.get(("siril", "cold"))
if s:
    print("| (info) Siril peak RSS | cold | %.0f MiB | |" % s["rss"])
EOF
if [ "$KEEP" = 0 ]; then
    rm -rf "$TMP"
fi
log "done in $(($(date +%s) - T_BEGIN)) s; results in $RESULTS"
