#!/usr/bin/env python3
"""Fills an AstroFiler catalogue (schema already created by astrocald) with years of rows,
no pixels: SESSIONS sessions and about FILES fitsfile rows, as a long-running observatory
has them. 80 % of the sessions are light sessions whose lights are all calibrated (each raw
row calibrated, plus its calibrated output row, as AstroFiler and astrocald record them);
20 % are calibration sessions (Bias, Dark, Flat) with their frames and a master each.

    bench/gen_years.py DB [--files 200000] [--sessions 5000]
"""
import argparse
import datetime
import random
import sqlite3
import uuid

ap = argparse.ArgumentParser()
ap.add_argument("db")
ap.add_argument("--files", type=int, default=200000)
ap.add_argument("--sessions", type=int, default=5000)
a = ap.parse_args()
rnd = random.Random(7)
con = sqlite3.connect(a.db)
per = max(2, a.files // a.sessions)
day0 = datetime.date(2019, 1, 1)
files, sessions, masters = [], [], []
objects = ["M 31", "M 42", "NGC 7000", "IC 1396", "M 101", "NGC 6888", "M 51", "Sh2-101"]
filters = ["L", "R", "G", "B", "Ha", "OIII", "SII"]
for s in range(a.sessions):
    sid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    night = day0 + datetime.timedelta(days=s * 2000 // a.sessions)
    ds = night.isoformat()
    kind = "light" if s % 5 else ["Bias", "Dark", "Flat"][(s // 5) % 3]
    obj = rnd.choice(objects) if kind == "light" else kind
    filt = rnd.choice(filters) if kind in ("light", "Flat") else None
    exp = {"light": "300", "Bias": "0", "Dark": "300", "Flat": "2"}[kind]
    sessions.append((sid, obj, ds, "C14", "ZWO ASI294MM Pro", exp, "1", "1", "-10", filt))
    typ = {"light": "LIGHT", "Bias": "BIAS", "Dark": "DARK", "Flat": "FLAT"}[kind]
    n = per // 2 if kind == "light" else per
    for i in range(n):
        t = datetime.datetime(night.year, night.month, night.day, 21) + datetime.timedelta(minutes=5 * i)
        raw = "/archive/%s/%s_%s_%04d.fits" % (ds, obj.replace(" ", "_"), exp, i)
        rid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        cal = 1 if kind == "light" else 0
        files.append((rid, raw, t.isoformat(), cal, typ, obj, exp, "1", "1", "-10", "C14",
                      "ZWO ASI294MM Pro", filt, "%064x" % rnd.getrandbits(256), sid, None,
                      None))
        if kind == "light":
            out = raw.replace(".fits", "_calibrated.fits")
            files.append((str(uuid.UUID(int=rnd.getrandbits(128), version=4)), out,
                          t.isoformat(), 1, typ, obj, exp, "1", "1", "-10", "C14",
                          "ZWO ASI294MM Pro", filt, "%064x" % rnd.getrandbits(256), sid, raw,
                          ds + " 12:00:00.000000"))
    if kind != "light":
        masters.append(("%s_C14_%s_%06d" % (kind.lower(), ds.replace("-", ""), s),
                        kind.lower(), "/archive/Masters/Master-%s-%s-%d.fits" % (kind, ds, s),
                        ds + " 12:00:00.000000", "C14", "ZWO ASI294MM Pro",
                        exp if kind == "Dark" else None, "1", "1", "-10",
                        filt if kind == "Flat" else None, sid, per))
with con:
    con.executemany(
        "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, fitsSessionDate, "
        "fitsSessionTelescope, fitsSessionImager, fitsSessionExposure, fitsSessionBinningX, "
        "fitsSessionBinningY, fitsSessionCCDTemp, fitsSessionFilter) VALUES (?,?,?,?,?,?,?,?,?,?)",
        sessions)
    con.executemany(
        "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileDate, fitsFileCalibrated, "
        "fitsFileType, fitsFileObject, fitsFileExpTime, fitsFileXBinning, fitsFileYBinning, "
        "fitsFileCCDTemp, fitsFileTelescop, fitsFileInstrument, fitsFileFilter, fitsFileHash, "
        "fitsFileSession, fitsFileOriginalFile, fitsFileCalibrationDate, fitsFileSoftDelete) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)", files)
    con.executemany(
        "INSERT INTO Masters (master_id, master_type, master_path, creation_date, telescope, "
        "instrument, exposure_time, binning_x, binning_y, ccd_temp, filter_name, "
        "source_session_id, file_count, is_validated, soft_delete) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1,0)", masters)
print("%d sessions, %d fitsfile rows, %d masters" % (len(sessions), len(files), len(masters)))
