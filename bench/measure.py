#!/usr/bin/python3
"""measure.py - runs and summarises the measurements of bench/run-engine.sh.

  measure.py run --name NAME --kind KIND --results FILE --log-dir DIR --out-glob GLOB
                 [--prep SHELL] [--cleanup SHELL] [--round N] [--noisy SHARE]
                 [--retries N] -- COMMAND...
      Runs --prep (e.g. delete outputs, sync, drop the page cache), waits for the machine
      to be quiet, notes the load average, then runs COMMAND under /usr/bin/time -v,
      time-stamping every line it prints. Afterwards it sums the output files' sizes
      (--out-glob), times a sync(2) (the cost of flushing what the run left dirty), runs
      --cleanup, and appends one JSON record to --results. The CPU used by other
      processes during the run (from /proc/stat minus the run's own user+system time) is
      recorded; a run where it exceeds --noisy of the machine is repeated (--retries).
      KIND says how to read the output: astrocald (--json lines), iofloor, siril, ccdproc.

  measure.py report --results FILE [--jobs 2] [--job-mib 32] [--masters FILE...]
      Prints the per-run table, the medians, the ratios and the target verdicts (Markdown).
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    total = sum(v[:8])
    return total - idle, total


def busy_share(seconds):
    """Fraction of the machine busy over the next `seconds`."""
    b0, t0 = cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = cpu_jiffies()
    return (b1 - b0) / max(1, t1 - t0)


def wait_quiet(limit=0.30, tries=10):
    """Wait (up to `tries` x ~1.5 s) until other processes use less than `limit` of the CPUs."""
    share = busy_share(0.5)
    n = 0
    while share > limit and n < tries:
        time.sleep(1.0)
        share = busy_share(0.5)
        n += 1
    return share, n


def parse_time_v(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Maximum resident set size"):
                out["rss_kib"] = int(line.split(":")[1])
            elif line.startswith("User time"):
                out["user_s"] = float(line.split(":")[1])
            elif line.startswith("System time"):
                out["sys_s"] = float(line.split(":")[1])
            elif line.startswith("Exit status"):
                out["exit"] = int(line.split(":")[1])
            elif line.startswith("Percent of CPU"):
                out["cpu_pct"] = line.split(":")[1].strip()
            elif line.startswith("Command terminated by signal"):
                out["exit"] = 128 + int(line.split()[-1])
    return out


def parse_output(kind, lines):
    """Completion times, per-frame seconds and phase figures from the time-stamped output."""
    done, per, info = [], [], {}
    for t, line in lines:
        if kind == "astrocald":
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "summary" in o:
                info["self_seconds"] = o["summary"]["seconds"]
            elif o.get("ok"):
                done.append(t)
                per.append(o.get("seconds", 0.0))
            else:
                info.setdefault("failures", []).append(line[:300])
        elif kind in ("iofloor", "ccdproc"):
            if line.startswith("OK "):
                done.append(t)
                per.append(float(line.split()[-1]))
            elif line.startswith("masters "):
                info["masters_s"] = max(info.get("masters_s", 0.0), float(line.split()[1]))
            elif line.startswith("summary "):
                for k, v in re.findall(r"(\w+)=([\d.]+)", line):
                    info[k] = float(v)
            elif line.startswith("FAIL"):
                info.setdefault("failures", []).append(line[:300])
        elif kind == "siril":
            if "Saving FITS: file pp_" in line:
                done.append(t)
            elif "Preprocessing: processing" in line:
                info["startup_s"] = t
            elif "Execution time:" in line and "preprocess_s" not in info:
                m = re.search(r"Execution time: ([\d.]+) (m?s)", line)
                if m:
                    info["preprocess_s"] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            elif "rror" in line:
                info.setdefault("failures", []).append(line[:300])
    done.sort()
    rec = {"frames": len(done), "t_done": [round(x, 4) for x in done]}
    if per:
        rec["per_frame_s"] = [round(x, 4) for x in per]
        # Startup: when the first finished frame started (time before any light work).
        rec["startup_s"] = round(done[0] - per[0], 4) if done else None
    if "startup_s" in info:
        rec["startup_s"] = round(info.pop("startup_s"), 4)
    if len(done) >= 4:
        rec["steady_fps"] = round((len(done) - 2) / (done[-1] - done[1]), 3)
    rec.update(info)
    return rec


def run_once(a, attempt):
    if a.prep:
        subprocess.run(["bash", "-c", a.prep], check=True)
    pre_busy, waited = wait_quiet()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    tag = "%s-r%s-a%d" % (a.name, a.round, attempt)
    tfile = os.path.join(a.log_dir, tag + ".time")
    lfile = os.path.join(a.log_dir, tag + ".log")
    efile = os.path.join(a.log_dir, tag + ".err")
    cmd = ["/usr/bin/time", "-v", "-o", tfile] + a.command
    b0, j0 = cpu_jiffies()
    t0 = time.monotonic()
    lines = []
    with open(efile, "w") as err, open(lfile, "w") as log:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        for line in p.stdout:
            t = time.monotonic() - t0
            lines.append((t, line.rstrip("\n")))
            log.write("%.4f %s" % (t, line))
        p.wait()
    wall = time.monotonic() - t0
    b1, j1 = cpu_jiffies()
    out_bytes = sum(os.path.getsize(f) for f in glob.glob(a.out_glob))
    ts = time.monotonic()
    os.sync()
    flush = time.monotonic() - ts
    rec = {"name": a.name, "round": a.round, "attempt": attempt, "kind": a.kind,
           "cmd": " ".join(a.command), "load_at_start": load,
           "busy_before": round(pre_busy, 3), "quiet_waits": waited, "wall_s": round(wall, 4),
           "out_bytes": out_bytes, "flush_after_s": round(flush, 4)}
    rec.update(parse_time_v(tfile))
    rec.update(parse_output(a.kind, lines))
    own = rec.get("user_s", 0.0) + rec.get("sys_s", 0.0)
    busy = (b1 - b0) / HZ
    rec["foreign_cpu_share"] = round(max(0.0, busy - own) / (wall * NCPU), 3)
    rec["noisy"] = rec["foreign_cpu_share"] > a.noisy
    if a.cleanup:
        subprocess.run(["bash", "-c", a.cleanup], check=False)
    return rec


def cmd_run(a):
    os.makedirs(a.log_dir, exist_ok=True)
    for attempt in range(1, a.retries + 2):
        rec = run_once(a, attempt)
        with open(a.results, "a") as f:
            f.write(json.dumps(rec) + "\n")
        fps = rec["frames"] / rec["wall_s"] if rec["wall_s"] else 0
        print("  %-16s round %s: load %s, %2d frames in %6.2f s = %5.2f frames/s, steady %s, "
              "RSS %4d MiB, others' CPU %4.1f%%%s" %
              (a.name, a.round, rec["load_at_start"], rec["frames"], rec["wall_s"], fps,
               rec.get("steady_fps"), rec.get("rss_kib", 0) // 1024,
               100 * rec["foreign_cpu_share"], "  NOISY, repeating" if rec["noisy"] and
               attempt <= a.retries else ""), flush=True)
        if rec.get("exit", 0) != 0 or rec.get("failures"):
            print("    FAILED: exit %s %s" % (rec.get("exit"), rec.get("failures", "")[:2]),
                  flush=True)
            return 1
        if not rec["noisy"]:
            break
    return 0


# ---------------------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, d=2):
    return "-" if x is None else ("%.*f" % (d, x))


def cmd_report(a):
    recs = [json.loads(l) for l in open(a.results) if l.strip()]
    by = {}
    for r in recs:
        by.setdefault(r["name"], []).append(r)
    order = [n for n in ["floor-nosync", "astrocald-nosync", "floor-sync", "astrocald-sync",
                         "siril", "ccdproc"] if n in by] + sorted(
        n for n in by if n not in ("floor-nosync", "astrocald-nosync", "floor-sync",
                                   "astrocald-sync", "siril", "ccdproc"))
    out = []
    P = out.append
    P("### Every run\n")
    P("| measurement | round | try | load avg at start | others' CPU | frames | wall s | "
      "frames/s | steady frames/s | startup s | sync after s | peak RSS MiB |")
    P("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in order:
        for r in by[n]:
            P("| %s | %s | %s | %s | %.0f%%%s | %d | %.2f | %.2f | %s | %s | %.2f | %.0f |" % (
                n, r["round"], r["attempt"], r["load_at_start"], 100 * r["foreign_cpu_share"],
                " (noisy)" if r["noisy"] else "", r["frames"], r["wall_s"],
                r["frames"] / r["wall_s"], fmt(r.get("steady_fps")), fmt(r.get("startup_s")),
                r["flush_after_s"], r.get("rss_kib", 0) / 1024))
    summ = {}
    for n in order:
        rs = [r for r in by[n] if not r["noisy"]] or by[n]
        frames = rs[0]["frames"]
        s = {
            "runs": len(rs),
            "frames": frames,
            "wall": med([r["wall_s"] for r in rs]),
            "fps": med([r["frames"] / r["wall_s"] for r in rs]),
            "fps_min": min(r["frames"] / r["wall_s"] for r in rs),
            "fps_max": max(r["frames"] / r["wall_s"] for r in rs),
            "out_mbs": med([r["out_bytes"] / 1e6 / r["wall_s"] for r in rs]),
            "io_mbs": med([(r["out_bytes"] + r["frames"] * a.light_bytes) / 1e6 / r["wall_s"]
                           for r in rs]),
            "steady": med([r.get("steady_fps") for r in rs]),
            "startup": med([r.get("startup_s") for r in rs]),
            "flush": med([r["flush_after_s"] for r in rs]),
            "fps_flushed": med([r["frames"] / (r["wall_s"] + r["flush_after_s"]) for r in rs]),
            "rss": max(r.get("rss_kib", 0) for r in rs) / 1024,
            "rss_med": med([r.get("rss_kib", 0) / 1024 for r in rs]),
            "out_mb_per_frame": rs[0]["out_bytes"] / 1e6 / max(1, frames),
        }
        if n.startswith("floor"):
            s["fps_lights"] = med([r["frames"] / r["lights"] for r in rs if r.get("lights")])
            s["masters_s"] = med([r.get("masters_s") for r in rs])
        summ[n] = s
    P("\n### Medians (runs flagged noisy are left out when clean runs exist)\n")
    P("| measurement | runs | frames | wall s | frames/s (min-max) | output MB/s | "
      "in+out MB/s | steady frames/s | startup s | sync after s | frames/s incl. sync | "
      "peak RSS MiB (max of runs) |")
    P("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in order:
        s = summ[n]
        extra = ""
        if "fps_lights" in s:
            extra = " [lights only: %s]" % fmt(s["fps_lights"])
        P("| %s | %d | %d | %s | %s (%s-%s)%s | %.0f | %.0f | %s | %s | %s | %s | %.0f |" % (
            n, s["runs"], s["frames"], fmt(s["wall"]), fmt(s["fps"]), fmt(s["fps_min"]),
            fmt(s["fps_max"]), extra, s["out_mbs"], s["io_mbs"], fmt(s["steady"]),
            fmt(s["startup"]),
            fmt(s["flush"]), fmt(s["fps_flushed"]), s["rss"]))

    def ratio(x, y):
        return None if x is None or y in (None, 0) else x / y

    P("\n### Ratios and targets\n")
    P("| comparison | end to end (whole run) | steady state (frames 3..N) | target | met? |")
    P("|---|---|---|---|---|")
    verdicts = []
    for mode in ("nosync", "sync"):
        ac, fl = summ.get("astrocald-" + mode), summ.get("floor-" + mode)
        if not ac or not fl:
            continue
        r_e2e = ratio(ac["fps"], fl.get("fps_lights") or fl["fps"])
        r_job = ratio(ac["fps"], fl["fps"])
        r_st = ratio(ac["steady"], fl["steady"])
        ok = r_e2e is not None and r_e2e >= 0.85
        P("| astrocald %s / I/O floor %s (lights only) | %s | %s | >= 0.85 | %s |" % (
            mode, mode, fmt(r_e2e), fmt(r_st), "yes" if ok else "NO (steady state: %s)" % (
                "yes" if r_st and r_st >= 0.85 else "no")))
        P("| astrocald %s / I/O floor %s incl. reading the 3 masters | %s | - | (info) | |" % (
            mode, mode, fmt(r_job)))
        verdicts.append(ok)
    ac, cd = summ.get("astrocald-sync"), summ.get("catdd-sync")
    if ac and cd:
        # Issue 12: against cat + dd, start-up included (masters read, hashed, analysed).
        r_e2e = ratio(ac["fps"], cd["fps"])
        r_st = ratio(ac["steady"], cd["steady"])
        ok = r_e2e is not None and r_e2e >= 0.85 and r_st is not None and r_st >= 0.95
        P("| astrocald sync / cat + dd floor (start-up included) | %s | %s | >= 0.85, "
          "steady >= 0.95 | %s |" % (fmt(r_e2e), fmt(r_st), "yes" if ok else "NO"))
        verdicts.append(ok)
    ac, si = summ.get("astrocald-nosync"), summ.get("siril")
    if ac and si:
        r = ratio(ac["fps"], si["fps"])
        rs = ratio(ac["steady"], si["steady"])
        rf = ratio(ac["fps_flushed"], si["fps_flushed"])
        P("| astrocald nosync / Siril preprocess | %s | %s | >= 4 | %s |" % (
            fmt(r), fmt(rs), "yes" if r and r >= 4 else "NO"))
        P("| same, both counted until their data is flushed (sync after) | %s | - | (info) | |"
          % fmt(rf))
        fl = summ.get("floor-nosync")
        if fl:
            P("| upper bound: I/O floor nosync (lights only) / Siril | %s | %s | (info) | |" % (
                fmt(ratio(fl.get("fps_lights") or fl["fps"], si["fps"])),
                fmt(ratio(fl["steady"], si["steady"]))))
    ac_s = summ.get("astrocald-sync")
    if ac_s and si:
        P("| astrocald sync (durable) / Siril preprocess (not durable) | %s | %s | (info) | |" % (
            fmt(ratio(ac_s["fps"], si["fps"])), fmt(ratio(ac_s["steady"], si["steady"]))))
    cp = summ.get("ccdproc")
    if ac and cp:
        P("| astrocald nosync / astropy ccdproc (%d lights, 2 processes) | %s | %s | (info) | |" % (
            cp["frames"], fmt(ratio(ac["fps"], cp["fps"])),
            fmt(ratio(ac["steady"], cp["steady"]))))
    masters = sum(_data_bytes(m) for m in a.masters) / 2**20 if a.masters else 3 * 104.37e6 / 2**20
    budget = masters + a.jobs * a.job_mib
    for mode in ("nosync", "sync"):
        s = summ.get("astrocald-" + mode)
        if s:
            P("| astrocald %s peak RSS (max of runs) | %.0f MiB | | <= %.0f MiB (masters %.0f + "
              "%d x %d) | %s |" % (mode, s["rss"], budget, masters, a.jobs, a.job_mib,
                                   "yes" if s["rss"] <= budget else "NO"))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    return 0


def _data_bytes(path):
    """Bytes of a master's data as float32 (NAXIS1 x NAXIS2 x 4) from its primary header."""
    with open(path, "rb") as f:
        hdr = f.read(2880 * 4).decode("ascii", "replace")
    cards = [hdr[i:i + 80] for i in range(0, len(hdr), 80)]
    dims = {}
    for c in cards:
        k = c[:8].strip()
        if k in ("NAXIS1", "NAXIS2"):
            dims[k] = int(c[10:].split("/")[0])
        if k == "END":
            break
    return dims.get("NAXIS1", 0) * dims.get("NAXIS2", 0) * 4


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True)
    r.add_argument("--kind", required=True, choices=["astrocald", "iofloor", "siril", "ccdproc"])
    r.add_argument("--results", required=True)
    r.add_argument("--log-dir", required=True)
    r.add_argument("--out-glob", required=True)
    r.add_argument("--prep", default="")
    r.add_argument("--cleanup", default="")
    r.add_argument("--round", default="1")
    r.add_argument("--noisy", type=float, default=0.25)
    r.add_argument("--retries", type=int, default=2)
    r.add_argument("command", nargs="+")
    q = sub.add_parser("report")
    q.add_argument("--results", required=True)
    q.add_argument("--jobs", type=int, default=2)
    q.add_argument("--job-mib", type=int, default=32)
    q.add_argument("--masters", nargs="*", default=[])
    q.add_argument("--markdown", default="")
    q.add_argument("--light-bytes", type=int, default=0, help="size of one light file")
    a = p.parse_args()
    return cmd_run(a) if a.cmd == "run" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
