#!/usr/bin/python3
"""ccdproc_bench.py - the astropy ccdproc baseline of the calibration benchmark.

Calibrates lights the way an astropy user would: CCDData.read each light, then
ccdproc.subtract_bias, ccdproc.subtract_dark (exposure-scaled, like astrocald's k) and
ccdproc.flat_correct (flat normalised by its mean), and writes the result as float32 FITS.
The masters are read once per worker process. With --procs N the lights are split over N
processes (the same parallelism as astrocald --jobs N); each process prints one line per
frame as it completes, flushed, so bench/run-engine.sh can time-stamp the lines.

Usage: ccdproc_bench.py --bias B --dark D --flat F --out DIR [--procs N] LIGHT...
Output: "masters SECONDS" per process, "OK LIGHT SECONDS" per frame, then
"summary frames=N wall=S".
"""
import argparse
import multiprocessing as mp
import os
import sys
import time
import warnings


def worker(args, lights, q):
    """Calibrate lights one after the other; report on the queue."""
    import astropy.units as u
    import ccdproc
    import numpy as np
    from astropy.nddata import CCDData
    from astropy.utils.exceptions import AstropyWarning

    warnings.simplefilter("ignore", AstropyWarning)
    t0 = time.monotonic()
    bias = CCDData.read(args.bias, unit="adu")
    dark = CCDData.read(args.dark, unit="adu")
    flat = CCDData.read(args.flat, unit="adu")
    for m in (bias, dark, flat):
        m.data = np.array(m.data)  # read now (CCDData.read may memory-map the file)
    dark_exp = float(dark.header.get("EXPTIME", 1.0)) * u.s
    q.put("masters %.4f" % (time.monotonic() - t0))
    for path in lights:
        t = time.monotonic()
        light = CCDData.read(path, unit="adu")
        light_exp = float(light.header.get("EXPTIME", 1.0)) * u.s
        c = ccdproc.subtract_bias(light, bias)
        c = ccdproc.subtract_dark(c, dark, dark_exposure=dark_exp, data_exposure=light_exp,
                                  scale=True)
        c = ccdproc.flat_correct(c, flat)
        c.data = c.data.astype(np.float32)
        stem = os.path.splitext(os.path.basename(path))[0]
        c.write(os.path.join(args.out, stem + "_ccdproc.fits"), overwrite=True)
        q.put("OK %s %.4f" % (path, time.monotonic() - t))
    q.put(None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bias", required=True)
    p.add_argument("--dark", required=True)
    p.add_argument("--flat", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("lights", nargs="+")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    q = mp.Queue()
    n = max(1, min(args.procs, len(args.lights)))
    procs = [mp.Process(target=worker, args=(args, args.lights[i::n], q)) for i in range(n)]
    for pr in procs:
        pr.start()
    done = ok = 0
    while done < n:
        line = q.get()
        if line is None:
            done += 1
            continue
        ok += line.startswith("OK ")
        print(line, flush=True)
    for pr in procs:
        pr.join()
    failed = sum(1 for pr in procs if pr.exitcode != 0)
    print("summary frames=%d failed_procs=%d wall=%.4f" % (ok, failed, time.monotonic() - t0),
          flush=True)
    return 1 if failed or ok != len(args.lights) else 0


if __name__ == "__main__":
    sys.exit(main())
