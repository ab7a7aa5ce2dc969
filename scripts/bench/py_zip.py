#!/usr/bin/env python3
"""Baseline: zips every .csv of DIR into OUT with Python's zipfile (ZIP_DEFLATED, level 6)."""
import os
import sys
import zipfile

src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for name in sorted(os.listdir(src)):
        if name.endswith(".csv"):
            z.write(os.path.join(src, name), arcname=name)
