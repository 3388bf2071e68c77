# common.sh - what the daemon benchmarks share (sourced by run-daemon.sh, run-drain.sh,
# run-years.sh, run-import.sh): option parsing, the Release build, the machine line, cache
# dropping, time stamps and medians.

# bench_options NAME... -- "$@": each "--NAME VALUE" (dashes in NAME as underscores) sets
# the shell variable NAME, which the caller has set to its default; anything else is an
# error (exit 64).
bench_options() {
  local known=() k
  while [ "$1" != "--" ]; do known+=("$1"); shift; done
  shift
  while [ $# -gt 0 ]; do
    k=${1#--}
    k=${k//-/_}
    if [[ " ${known[*]} " == *" $k "* ]] && [ $# -ge 2 ]; then
      printf -v "$k" '%s' "$2"
      shift 2
    else
      echo "unknown option $1 (options: ${known[*]/#/--})" >&2
      exit 64
    fi
  done
}

# bench_build DIR TARGET...: a Release build of the targets in DIR, quietly.
bench_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$dir" -j2 --target "$@" >/dev/null
}

# bench_machine prints the line every result starts with.
bench_machine() {
  echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)," \
    "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
}

# drop empties the page cache (as root; otherwise says the run is warm).
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: warm)"; }

now() { date +%s.%N; }

# median X...: the median of the numbers.
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
