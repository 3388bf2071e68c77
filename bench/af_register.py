#!/usr/bin/python3
"""Registers a generated night in a catalogue with AstroFiler's own importer, as an
observatory running AstroFiler would have it: lights and raw calibration frames through
fitsProcessing().registerFitsImages, the masters through registerMasters (no source
session), then AstroFiler's light and calibration sessions.

    bench/af_register.py DB ROOT

DB must already hold AstroFiler's schema (astrocald creates it). ROOT is an `acgen night`
folder: lights/, bias/, darks/, flats/, flatdarks/ (those present) and masters/. Run with
Debian's python3 (python3-peewee, python3-astropy, python3-numpy); AstroFiler is read from
../shared/peers/astrofiler (AstroFiler is GPL; it is run here, not copied).
"""
import os
import sys
import time

db, root = sys.argv[1], sys.argv[2]
os.environ["ASTROFILER_DB_PATH"] = db
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "peers", "astrofiler", "src"))
from astrofiler.core import fitsProcessing  # noqa: E402

fp = fitsProcessing()
t0 = time.time()
for sub in ("lights", "bias", "darks", "flats", "flatdarks"):
    if os.path.isdir(os.path.join(root, sub)):
        fp.registerFitsImages(moveFiles=False, source_folder=os.path.join(root, sub))
if os.path.isdir(os.path.join(root, "masters")):
    fp.registerMasters(source_folder=os.path.join(root, "masters"), moveFiles=False)
fp.createLightSessions()
fp.createCalibrationSessions()
print("astrofiler registration: %.2f s" % (time.time() - t0))
