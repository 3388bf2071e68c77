#!/usr/bin/env bash
# catdd.sh - the byte floor of a calibration run with no project code (issue 12): what
# it costs to move the same bytes with plain tools. N streams; stream i reads (cat) its
# share of the masters, then for each of its lights reads the light and writes the
# output's bytes (a float32 frame: twice the 16-bit light's size) with
# `dd oflag=direct` (and conv=fsync with --sync). Prints "OK NAME SECONDS" per light, as
# iofloor does, so that measure.py times it the same way.
#
#   bench/catdd.sh [-j N] [--sync] --masters M1 M2 M3 -o OUTDIR LIGHT...
set -euo pipefail
jobs=2 sync=() masters=() out=
while [ $# -gt 0 ]; do
  case $1 in
    -j) jobs=$2; shift 2 ;;
    --sync) sync=(conv=fsync); shift ;;
    --masters) shift; while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do masters+=("$1"); shift; done ;;
    -o) out=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "catdd.sh: unknown option $1" >&2; exit 64 ;;
    *) break ;;
  esac
done
[ -n "$out" ] || { echo "catdd.sh: -o OUTDIR is required" >&2; exit 64; }
lights=("$@")
mkdir -p "$out"
stream() { # stream I
  local i=$1 k t0 t1 mib
  for ((k = i; k < ${#masters[@]}; k += jobs)); do cat "${masters[k]}" >/dev/null; done
  for ((k = i; k < ${#lights[@]}; k += jobs)); do
    t0=$(date +%s.%N)
    cat "${lights[k]}" >/dev/null
    mib=$(( ($(stat -c %s "${lights[k]}") * 2 + 1048575) / 1048576 ))
    dd if=/dev/zero of="$out/$(basename "${lights[k]}")" bs=1M count="$mib" oflag=direct \
      "${sync[@]}" status=none
    t1=$(date +%s.%N)
    echo "OK $(basename "${lights[k]}") $(echo "$t1 - $t0" | bc -l)"
  done
}
for ((i = 0; i < jobs; i++)); do stream "$i" & done
wait
