#!/usr/bin/env bash
# The built-in demo: a whole night, hands-free.
#   1. build astrocald;
#   2. generate a synthetic raw night from a one-shot-colour camera (16-bit, BZERO=32768,
#      like a real camera): bias, dark, flat and flat-dark frames, and light frames of a
#      star field crossing midnight UTC; no master exists yet;
#   3. start the daemon on an empty catalogue (it creates an AstroFiler database) watching
#      demo-out/incoming, and copy the night into that folder file by file, as capture
#      software would;
#   4. astrocald registers every frame, groups the sessions by observing night, builds the
#      master bias, dark, flat and flat-dark from the night's frames, and calibrates every
#      light as soon as its masters exist;
#   5. with rclone installed, every calibrated frame and master is backed up to a local
#      rclone remote (demo-out/cloud), through the upload queue;
#   6. astrocalctl shows the status, the masters, the sessions and the uploads; astrocalctl
#      import of the original capture folder then finds every frame already registered.
# Everything goes to demo-out/ (recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
out="$top/demo-out"
lights=8
jobs=$(nproc 2>/dev/null || echo 2)
echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' || true
rm -rf "$out"
mkdir -p "$out/incoming"
echo "== generating a synthetic raw night (no masters) in demo-out/capture"
build/tests/acgen night "$out/capture" --width 1600 --height 1200 --lights $lights --color \
    --masters none --raw-cal 5 --cross-midnight >/dev/null
(cd "$out/capture" && find . -name '*.fits' | sort)

cat >"$out/astrocald.conf" <<CONF
[DAEMON]
database = $out/astrofiler.db
socket = $out/astrocald.sock
state_dir = $out/state
output_dir = $out/calibrated
log_level = info

[WORKERS]
workers = 2
nice = 0

[INGEST]
watch_dirs = $out/incoming
settle_s = 1.0

[MASTERS]
masters_dir = $out/masters
# The demo's frames arrive within seconds; a real night keeps the default.
build_settle_s = 3.0
CONF
cloud=0
if command -v rclone >/dev/null; then
  # Cloud backup to rclone's local backend: a folder stands for the bucket. The repository
  # is demo-out, so the remote mirrors its layout (calibrated/..., masters/...).
  cloud=1
  mkdir -p "$out/cloud"
  cat >>"$out/astrocald.conf" <<CONF

[CLOUD]
enabled = True
remote = $out/cloud
CONF
  sed -i "s|^state_dir = .*|&\nrepository_dir = $out|" "$out/astrocald.conf"
else
  echo "(rclone is not installed: the demo runs without cloud backup)"
fi

echo "== starting astrocald (log in demo-out/astrocald.log)"
build/astrocald --config "$out/astrocald.conf" >"$out/astrocald.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -S "$out/astrocald.sock" ] && break
  sleep 0.1
done
ctl() { build/astrocalctl --socket "$out/astrocald.sock" "$@"; }
ctl version

echo "== the capture software writes the night into demo-out/incoming, file by file"
(cd "$out/capture" && find . -name '*.fits' | sort) | while read -r f; do
  mkdir -p "$out/incoming/$(dirname "$f")"
  cp "$out/capture/$f" "$out/incoming/$f.part" && mv "$out/incoming/$f.part" "$out/incoming/$f"
  sleep 0.05
done

echo "== waiting until every light is calibrated"
for _ in $(seq 1 600); do
  st=$(ctl --json status 2>/dev/null || true)
  done_n=$(echo "$st" | grep -o '"done":[0-9]*' | head -n 1 | cut -d: -f2)
  [ "${done_n:-0}" -ge "$lights" ] && break
  sleep 0.2
done
if [ $cloud -eq 1 ]; then
  echo "== waiting until the upload queue is empty"
  for _ in $(seq 1 300); do
    up=$(ctl --json uploads --limit 1 2>/dev/null || true)
    q=$(echo "$up" | grep -o '"queued":[0-9]*' | cut -d: -f2)
    r=$(echo "$up" | grep -o '"running":[0-9]*' | cut -d: -f2)
    [ "${q:-1}" -eq 0 ] && [ "${r:-1}" -eq 0 ] && break
    sleep 0.2
  done
fi
echo "== astrocalctl status"
ctl status
echo "== astrocalctl masters (built from the night's frames)"
ctl masters
echo "== astrocalctl sessions"
ctl sessions
if [ $cloud -eq 1 ]; then
  echo "== astrocalctl uploads --limit 6 (backed up to the rclone remote $out/cloud)"
  ctl uploads --limit 6
fi
echo "== astrocalctl import demo-out/capture (the same night again: every file is known by its hash)"
ctl import "$out/capture"

echo "== stopping astrocald (SIGTERM)"
kill -TERM $pid
wait $pid || true
trap - EXIT
grep -E 'master built|session .* done' "$out/astrocald.log" | sed 's/^<[0-9]>//' || true

first=$(find "$out/calibrated" -name '*.fits' | sort | head -n 1)
echo "== fitsverify $first"
if command -v fitsverify >/dev/null; then
  fitsverify -q "$first"
fi
echo "== calibration keywords of $first"
grep -a -o '.\{80\}' "$first" | grep -a -E '^(CALIBRAT|CALDATE|CALSOFT|BIASMAST|DARKMAST|FLATMAST|DARKSCAL|FLATSCL|PEDESTAL|Q[A-Z]+ +=|HISTORY)' | head -n 30
echo "== the catalogue, written the AstroFiler way"
sqlite3 "$out/astrofiler.db" \
  "SELECT count(*) || ' raw frames registered' FROM fitsfile WHERE fitsFileOriginalFile IS NULL;" \
  "SELECT count(*) || ' masters built (Masters rows)' FROM Masters;" \
  "SELECT count(*) || ' calibrated frames recorded' FROM fitsfile WHERE fitsFileCalibrated = 1 AND fitsFileOriginalFile IS NOT NULL;" \
  "SELECT count(*) || ' with their cloud URL (fitsFileCloudURL)' FROM fitsfile WHERE fitsFileOriginalFile IS NOT NULL AND fitsFileCloudURL <> '';" \
  "SELECT count(*) || ' masters with their cloud URL' FROM Masters WHERE cloud_url <> '';"
