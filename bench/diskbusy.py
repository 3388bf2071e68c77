#!/usr/bin/env python3
"""diskbusy.py - when does a command keep the disk busy? (issue 12)

Drops the page cache (as root), runs the command and samples /sys/block/DEV/stat every
5 ms, then prints, per window of --window seconds, how busy the device was (io_ticks) and
how many MiB it read and wrote. A gap of 0 % in the middle of a run is time the disk
idled while the command computed: what bench/daemon.md's "The one-shot's start-up" found
(the sets being prepared while nothing was read).

  bench/diskbusy.py [--dev vda] [--window 0.1] [--warm] -- COMMAND...
"""
import argparse
import os
import subprocess
import sys
import time


def default_dev():
    for d in sorted(os.listdir("/sys/block")):
        if not d.startswith(("loop", "ram", "zram")):
            return d
    return "sda"


def sample(dev):
    f = open("/sys/block/%s/stat" % dev).read().split()
    return int(f[2]), int(f[6]), int(f[9])  # sectors read, sectors written, io_ticks (ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default=default_dev())
    ap.add_argument("--window", type=float, default=0.1)
    ap.add_argument("--warm", action="store_true", help="keep the page cache")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")
    if not a.warm:
        os.system("sync; echo 3 > /proc/sys/vm/drop_caches")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    s = []
    while p.poll() is None:
        s.append((time.monotonic() - t0,) + sample(a.dev))
        time.sleep(0.005)
    s.append((time.monotonic() - t0,) + sample(a.dev))
    print("%s: exit %d in %.2f s; per %.2f s: busy %%, MiB read, MiB written"
          % (cmd[0], p.returncode, s[-1][0], a.window))
    j, t, out = 0, a.window, []
    while t < s[-1][0] + a.window:
        k = max(i for i in range(len(s)) if s[i][0] <= t)
        x, y = s[j], s[k]
        ms = (y[0] - x[0]) * 1000 or 1
        out.append("%5.2f %3d%% r%5d w%5d" % (t, 100 * (y[3] - x[3]) / ms,
                                              (y[1] - x[1]) / 2048, (y[2] - x[2]) / 2048))
        j, t = k, t + a.window
    print("\n".join(out))
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
