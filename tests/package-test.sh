#!/usr/bin/env bash
# package-test.sh - the Debian package, built, installed and purged on this machine
# (docs/packaging.md). .ci/run runs it after tests/run-all.
#
#   1. build astrocald_<version>_<arch>.deb with dpkg-buildpackage from a copy of the
#      files git tracks (what a clean clone holds), and check it with lintian (no error
#      and no warning) and its contents;
#   2. install it with dpkg -i, check the astrocald user and group, its directories, the
#      conffile, the enabled service, `systemd-analyze verify` and `systemd-analyze
#      security` (exposure at most 1.0), and astrocald.conf(5) listing every key;
#   3. `astrocald --check-config` on the installed conffile, and the daemon with it as
#      installed ("no database configured": it waits, creating nothing);
#   4. the daemon as the astrocald user with the unit's umask against a test catalogue
#      (a synthetic night, masters built, lights calibrated), under strace: every system
#      call it makes must be allowed by the unit's SystemCallFilter=; bash completion of
#      session ids from it, and nothing once it is stopped;
#   5. an upgrade and a reinstall over an edited conffile (the edit survives);
#   6. the purge: user, group, directories, conffile and service links gone, the test
#      catalogue untouched.
#
# Needs root and dpkg-buildpackage, lintian, strace, systemd-analyze (.ci/setup installs
# them); otherwise it says why and counts nothing. It refuses to touch a machine where the
# astrocald package or user already exists, runs one at a time (a lock), and cleans up
# whatever happens: on exit the package is purged and its temporary directory removed.
# Prints "ok - ..." or "not ok - ..." per check, then "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pass=0
fail=0
log=/dev/null

ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "not ok - $*"; fail=$((fail + 1)); }
# check WHAT CMD...: one check, passing when CMD succeeds (its output goes to $log).
check() {
  local what=$1
  shift
  if "$@" >>"$log" 2>&1; then ok "$what"; else bad "$what"; fi
}
summary() {
  echo "package test:"
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

for tool in dpkg-buildpackage lintian strace systemd-analyze setpriv; do
  if ! command -v "$tool" >/dev/null; then
    echo "package test skipped: $tool is not installed (.ci/setup installs it)"
    summary
    exit
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "package test skipped: it installs a package, so it runs as root only"
  summary
  exit
fi

exec 9>/run/lock/astrocald-package-test.lock
flock -w 1800 9 || { bad "another package test holds the lock"; summary; exit; }
if dpkg-query -W -f='${Status}' astrocald 2>/dev/null | grep -q installed ||
   getent passwd astrocald >/dev/null || getent group astrocald >/dev/null; then
  bad "astrocald (package, user or group) already exists on this machine: not touching it"
  summary
  exit
fi

tmp=$(mktemp -d /tmp/astrocald-pkgtest.XXXXXX)
log=$tmp/commands.log
installed=0
daemon_pid=""
traced_pid=""
cleanup() {
  [ -n "$traced_pid" ] && kill -KILL "$traced_pid" 2>/dev/null
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
  if [ "$installed" -eq 1 ] || dpkg-query -W astrocald >/dev/null 2>&1; then
    dpkg --purge astrocald >>"$log" 2>&1 || echo "package test: purging astrocald failed (see $log)"
  fi
  if [ "$fail" -eq 0 ]; then rm -rf "$tmp"; else echo "package test: logs kept in $tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. build -----------------------------------------------------------------------------
echo "== building the package (log: $tmp/build.log)"
mkdir -p "$tmp/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$tmp/src" -xf -
else # a source tree without git: everything but build output
  tar --exclude='./build*' --exclude='./demo-out' --exclude='./obj-*' -cf - . |
    tar -C "$tmp/src" -xf -
fi
if ! (cd "$tmp/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
     >"$tmp/build.log" 2>&1; then
  bad "dpkg-buildpackage -us -uc -b"
  tail -n 30 "$tmp/build.log"
  summary
  exit
fi
version=$(cd "$tmp/src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=$tmp/astrocald_${version}_${arch}.deb
check "dpkg-buildpackage made astrocald_${version}_${arch}.deb" test -f "$deb"
cmake_version=$(sed -n 's/^project(astrocald VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
check "debian/changelog's version $version is CMakeLists.txt's $cmake_version" \
  test "${version%%[-+~]*}" = "$cmake_version"

lintian --fail-on error,warning "$tmp/astrocald_${version}_${arch}.changes" >"$tmp/lintian.log" 2>&1
lint_rc=$?
grep -v 'running with root privileges' "$tmp/lintian.log" | sed 's/^/  lintian: /'
echo "  lintian: $(grep -c '^E:' "$tmp/lintian.log") errors, $(grep -c '^W:' "$tmp/lintian.log") warnings"
check "lintian: no errors, no warnings" test "$lint_rc" -eq 0

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
missing=""
for f in /usr/bin/astrocald /usr/bin/astrocalctl /etc/astrocald/astrocald.conf \
  "$unitdir/astrocald.service" "$unitdir/astrocald.socket" \
  /usr/lib/sysusers.d/astrocald.conf /usr/lib/tmpfiles.d/astrocald.conf \
  /usr/share/man/man1/astrocald.1.gz /usr/share/man/man1/astrocalctl.1.gz \
  /usr/share/man/man5/astrocald.conf.5.gz /usr/share/doc/astrocald/copyright \
  /usr/share/doc/astrocald/README.md /usr/share/doc/astrocald/configuration.md \
  /usr/share/doc/astrocald/user-guide.md /usr/share/doc/astrocald/packaging.md \
  /usr/share/doc/astrocald/examples/cloud.conf \
  /usr/share/bash-completion/completions/astrocald \
  /usr/share/bash-completion/completions/astrocalctl; do
  # Documents above 4 KiB are compressed (dh_compress), the others not.
  grep -qxF -e "$f" -e "$f.gz" "$tmp/contents" || missing="$missing $f"
done
check "the package holds every file (missing:${missing:- none})" test -z "$missing"

# ---- 2. install -----------------------------------------------------------------------------
echo "== installing"
installed=1
if ! dpkg -i "$deb" >>"$log" 2>&1; then
  apt-get install -f -y -qq >>"$log" 2>&1
fi
check "dpkg -i: astrocald $version installed" \
  test "$(dpkg-query -W -f='${Status} ${Version}' astrocald 2>/dev/null)" = "install ok installed $version"
check "/etc/astrocald/astrocald.conf is a conffile" \
  bash -c "dpkg-query -W -f='\${Conffiles}' astrocald | grep -q ' /etc/astrocald/astrocald.conf '"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd astrocald)
check "the astrocald system user: uid ${uid:-?} < 1000, home /var/lib/astrocald, shell $shell" \
  test -n "$uid" -a "${uid:-1000}" -lt 1000 -a "$home" = /var/lib/astrocald -a "${shell##*/}" = nologin
check "the astrocald group is the user's group" test "$(getent group astrocald | cut -d: -f3)" = "$gid"
for d in /var/lib/astrocald /run/astrocald; do
  check "$d: astrocald:astrocald 750" test "$(stat -c '%U:%G %a' "$d" 2>/dev/null)" = "astrocald:astrocald 750"
done
check "astrocald.service enabled (multi-user.target.wants)" \
  test -L /etc/systemd/system/multi-user.target.wants/astrocald.service
check "astrocald.socket not enabled" test ! -e /etc/systemd/system/sockets.target.wants/astrocald.socket
check "systemd-analyze verify: the installed units" \
  systemd-analyze verify "$unitdir/astrocald.service" "$unitdir/astrocald.socket"
score=$(systemd-analyze security --offline=yes "$unitdir/astrocald.service" 2>/dev/null |
  sed -n 's/.*Overall exposure level for astrocald.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security --offline=yes: exposure ${score:-?} <= 1.0" \
  awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.0) }'
# The cloud drop-in (an example, not active): with it the unit still verifies, has the
# network and keeps the rest of its hardening (exposure at most 2.0).
mkdir -p "$tmp/units/astrocald.service.d"
cp "$unitdir/astrocald.service" "$tmp/units/"
cp /usr/share/doc/astrocald/examples/cloud.conf "$tmp/units/astrocald.service.d/"
check "the cloud drop-in: systemd-analyze verify" \
  env SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze verify "$tmp/units/astrocald.service"
cscore=$(SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze security --offline=yes \
  "$tmp/units/astrocald.service" 2>/dev/null |
  sed -n 's/.*Overall exposure level for astrocald.service: \([0-9.]*\).*/\1/p')
check "the cloud drop-in: network allowed, exposure ${cscore:-?} <= 2.0" \
  bash -c "SYSTEMD_UNIT_PATH='$tmp/units:' systemd-analyze security --offline=yes \
    '$tmp/units/astrocald.service' 2>/dev/null | grep -q 'PrivateNetwork=.*has access' &&
    awk -v s='${cscore:-99}' 'BEGIN { exit !(s <= 2.0) }'"
# Every key of the installed conffile (a "key = value" line each) has its entry in
# astrocald.conf(5), and no more keys are there.
grep -oE '^[a-z_]+ = ' /etc/astrocald/astrocald.conf | tr -d ' =' | sort -u >"$tmp/conf-keys"
MANWIDTH=200 man -P cat astrocald.conf 2>/dev/null >"$tmp/conf.5.txt"
grep -oE '^ {7}[a-z_]+ = ' "$tmp/conf.5.txt" | tr -d ' =' | sort -u >"$tmp/man-keys"
check "astrocald.conf(5) has exactly the $(wc -l <"$tmp/conf-keys") keys of the conffile" \
  diff "$tmp/conf-keys" "$tmp/man-keys"

# ---- 3. the installed configuration ---------------------------------------------------------
as_astrocald() { setpriv --reuid=astrocald --regid=astrocald --init-groups -- "$@"; }
check_config_waits() {
  as_astrocald astrocald --check-config | grep -q 'no \[DAEMON\] database configured: astrocald will wait'
}
check "astrocald --check-config (the installed conffile, as astrocald): valid, will wait" \
  check_config_waits
setpriv --reuid=astrocald --regid=astrocald --init-groups -- astrocald \
  >"$tmp/unconfigured.log" 2>&1 &
daemon_pid=$!
sleep 2
check "as installed, astrocald runs and waits" kill -0 "$daemon_pid"
kill -TERM "$daemon_pid" 2>/dev/null
wait "$daemon_pid"
rc=$?
daemon_pid=""
check "... and stops on SIGTERM with 0" test "$rc" -eq 0
check "... after saying \"no database configured\"" grep -q 'no database configured' "$tmp/unconfigured.log"
check "... creating nothing (no database, lock or socket)" \
  test -z "$(find /var/lib/astrocald /run/astrocald -mindepth 1)"

# ---- 4. a test catalogue ---------------------------------------------------------------------
echo "== the daemon as astrocald against a test catalogue (under strace)"
acgen=$root/build/tests/acgen
if [ ! -x "$acgen" ]; then
  cmake -S "$root" -B "$tmp/gen" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 &&
    cmake --build "$tmp/gen" -j2 --target acgen >>"$log" 2>&1
  acgen=$tmp/gen/tests/acgen
fi
data=$tmp/data
chmod 0711 "$tmp"
mkdir -p "$data/catalog"
lights=3
"$acgen" night "$data/incoming" --width 320 --height 240 --lights $lights --masters none \
  --raw-cal 3 >>"$log" 2>&1
chown astrocald:astrocald "$data/catalog"
cat >"$data/astrocald.conf" <<CONF
[DAEMON]
database = $data/catalog/astrofiler.db
output_dir = $data/calibrated
[INGEST]
watch_dirs = $data/incoming
settle_s = 0.5
[MASTERS]
masters_dir = $data/masters
build_settle_s = 1.0
CONF
chown astrocald:astrocald "$data"
check "astrocald --check-config (the test configuration, as astrocald)" \
  as_astrocald astrocald --check-config --config "$data/astrocald.conf"
(umask 0007 && exec strace -f -qq -o "$tmp/strace.log" -u astrocald \
  /usr/bin/astrocald --config "$data/astrocald.conf") >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
# strace ignores SIGTERM (it is started with -o FILE): signals go to the daemon itself.
for _ in $(seq 1 100); do
  traced_pid=$(ps -o pid= --ppid "$daemon_pid" | tr -d ' ')
  [ -n "$traced_pid" ] && break
  sleep 0.1
done
done_n=0
for _ in $(seq 1 600); do
  st=$(astrocalctl --json status 2>/dev/null)
  done_n=$(echo "$st" | grep -o '"done":[0-9]*' | head -n 1 | cut -d: -f2)
  [ "${done_n:-0}" -ge $lights ] && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.2
done
check "the daemon built the masters and calibrated the $lights lights (done: ${done_n:-0})" \
  test "${done_n:-0}" -eq $lights

# Bash completion of session ids, from the running daemon: one light session.
complete_words() {
  bash -c 'source /usr/share/bash-completion/completions/astrocalctl
           COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _astrocalctl
           printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
ids=$(complete_words astrocalctl session "")
check "completion: 'astrocalctl session <TAB>' offers the light session's id" \
  test "$(echo "$ids" | grep -cE '^[0-9a-f-]{36}$')" -eq 1
check "... which astrocalctl session accepts" astrocalctl session "$ids"
check "completion: 'astrocalctl se<TAB>' offers session and sessions" \
  test "$(complete_words astrocalctl se | sort | tr '\n' ' ')" = "session sessions "

# SIGTERM to the daemon (strace's child, looked up again now), then at most 30 s.
traced_pid=$(ps -o pid= --ppid "$daemon_pid" | tr -d ' ' | head -n 1)
kill -TERM "${traced_pid:-$daemon_pid}" 2>/dev/null
for _ in $(seq 1 300); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$daemon_pid" 2>/dev/null; then
  echo "the daemon did not stop within 30 s of SIGTERM" >&2
  kill -KILL "${traced_pid:-$daemon_pid}" "$daemon_pid" 2>/dev/null
fi
wait "$daemon_pid"
rc=$?
daemon_pid=""
traced_pid=""
check "SIGTERM: the daemon (under strace) exits 0" test "$rc" -eq 0
check "completion once it is stopped: no session ids, nothing printed" \
  test -z "$(complete_words astrocalctl session "" 2>&1)"
n=$(find "$data/calibrated" -name '*.fits' 2>/dev/null | wc -l)
check "$lights calibrated files" test "$n" -eq $lights
bad_modes=$(find "$data/calibrated" "$data/masters" \( -type f ! -perm 0660 \) -o \
  \( -type d ! -perm 0770 \) -o ! -user astrocald)
check "with the unit's UMask=0007 outputs are 0660, folders 0770, owned by astrocald" \
  test -z "$bad_modes" -a "$n" -gt 0

# Every system call the daemon made (after its execve) is allowed by the unit's filter:
# the first SystemCallFilter= line allows, a line starting with ~ removes, later lines
# add again, each @group expanded as systemd-analyze syscall-filter lists it.
expand() {
  local w
  for w in "$@"; do
    case $w in
      @*) expand $(systemd-analyze syscall-filter "$w" | sed -n 's/^ \+\([@a-z0-9_-]\+\)$/\1/p') ;;
      *) echo "$w" ;;
    esac
  done
}
: >"$tmp/allowed"
while IFS= read -r line; do
  list=${line#SystemCallFilter=}
  if [ "${list#\~}" != "$list" ]; then
    expand ${list#\~} | sort -u >"$tmp/remove"
    sort -u "$tmp/allowed" | comm -23 - "$tmp/remove" >"$tmp/allowed.new"
    mv "$tmp/allowed.new" "$tmp/allowed"
  else
    expand $list >>"$tmp/allowed"
  fi
done < <(grep '^SystemCallFilter=' "$unitdir/astrocald.service")
sort -u -o "$tmp/allowed" "$tmp/allowed"
awk '/execve\("\/usr\/bin\/astrocald"/ { on = 1 } on' "$tmp/strace.log" |
  sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' | sort -u >"$tmp/used"
denied=$(comm -23 "$tmp/used" "$tmp/allowed" | tr '\n' ' ')
check "strace: the daemon made $(wc -l <"$tmp/used") different system calls, all allowed by SystemCallFilter= (denied: ${denied:-none})" \
  test -z "$denied" -a -s "$tmp/used" -a -s "$tmp/allowed"
md5sum "$data/catalog/astrofiler.db" >"$tmp/catalog.md5"

# ---- 5. upgrade and reinstall over an edited conffile ---------------------------------------
echo "== upgrade and reinstall over an edited conffile"
sed -i 's/^log_level = info$/log_level = debug/' /etc/astrocald/astrocald.conf
check "conffile edited (log_level = debug)" grep -qx 'log_level = debug' /etc/astrocald/astrocald.conf
dpkg-deb -R "$deb" "$tmp/up"
sed -i "s/^Version: .*/Version: ${version}+pkgtest1/" "$tmp/up/DEBIAN/control"
dpkg-deb -b "$tmp/up" "$tmp/up.deb" >>"$log" 2>&1
check "upgrade to ${version}+pkgtest1 (dpkg -i)" dpkg -i "$tmp/up.deb"
check "... the edit survives" grep -qx 'log_level = debug' /etc/astrocald/astrocald.conf
check "... the astrocald user keeps uid $uid" test "$(id -u astrocald)" = "$uid"
check "reinstall of ${version}+pkgtest1 (dpkg -i)" dpkg -i "$tmp/up.deb"
check "... the edit survives" grep -qx 'log_level = debug' /etc/astrocald/astrocald.conf
check "... the daemon accepts the edited conffile" astrocald --check-config

# ---- 6. purge --------------------------------------------------------------------------------
echo "== purge"
check "dpkg --purge astrocald" dpkg --purge astrocald
installed=0
check "... not installed any more" bash -c '! dpkg-query -W -f="\${Status}" astrocald 2>/dev/null | grep -q installed'
check "... the astrocald user and group are gone" \
  bash -c '! getent passwd astrocald && ! getent group astrocald'
for p in /etc/astrocald /var/lib/astrocald /run/astrocald \
  /etc/systemd/system/multi-user.target.wants/astrocald.service /usr/bin/astrocald; do
  check "... $p is gone" test ! -e "$p" -a ! -L "$p"
done
check "... the test catalogue elsewhere is untouched" md5sum -c --quiet "$tmp/catalog.md5"
check "... and so are the calibrated files" test "$(find "$data/calibrated" -name '*.fits' | wc -l)" -eq $lights

summary
