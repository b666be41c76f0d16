#!/usr/bin/env bash
# Builds the API reference from the public headers' comments and fails if
# anything public is undocumented. docs/meson.build runs it for the `docs`
# target (meson compile -C build docs):
#
#   scripts/apidoc.sh DOXYGEN PYTHON DOXYFILE OUT_DIR HEADER_DIR
#
# Doxygen writes OUT_DIR/html (the reference) and OUT_DIR/xml, and fails on
# any warning (WARN_AS_ERROR in docs/Doxyfile.in): an undocumented function,
# typedef, struct, member or macro, or a malformed comment. Doxygen 1.9
# (Debian 12) does not check enum values, nor anything in a header without
# a \file comment, so the XML is checked for both.
# Exits non-zero if either check failed.
set -euo pipefail

doxygen=$1
python=$2
doxyfile=$3
out=$4
headers=$5

# A header or name removed since the last run must not linger.
rm -rf "$out/html" "$out/xml"

status=0
"$doxygen" "$doxyfile" || status=1

"$python" - "$out/xml" "$headers" <<'EOF' || status=1
import glob
import os
import sys
import xml.etree.ElementTree as ET

xml_dir, header_dir = sys.argv[1:]
# Doxygen's paths are relative to the include directory (STRIP_FROM_PATH).
include_dir = os.path.dirname(os.path.abspath(header_dir))
errors = []


def text(elem):
    return "" if elem is None else "".join(elem.itertext()).strip()


def path(loc):
    return os.path.realpath(os.path.join(include_dir, loc.get("file")))


documented = set()
seen = set()
index = ET.parse(os.path.join(xml_dir, "index.xml")).getroot()
for compound in index.findall("compound"):
    root = ET.parse(os.path.join(xml_dir, compound.get("refid") + ".xml"))
    for cdef in root.getroot().findall("compounddef"):
        loc = cdef.find("location")
        if (cdef.get("kind") == "file" and loc is not None and
                (text(cdef.find("briefdescription")) or
                 text(cdef.find("detaileddescription")))):
            documented.add(path(loc))
        for mdef in cdef.iter("memberdef"):
            if mdef.get("kind") != "enum" or mdef.get("id") in seen:
                continue
            seen.add(mdef.get("id"))
            mloc = mdef.find("location")
            for value in mdef.findall("enumvalue"):
                if not (text(value.find("briefdescription")) or
                        text(value.find("detaileddescription"))):
                    errors.append("%s:%s: error: enum value %s of %s is not "
                                  "documented." % (path(mloc),
                                                   mloc.get("line"),
                                                   text(value.find("name")),
                                                   text(mdef.find("name"))))

for header in sorted(glob.glob(os.path.join(header_dir, "*.h"))):
    if os.path.realpath(header) not in documented:
        errors.append("%s:1: error: no \\file comment (or an empty one): "
                      "doxygen checks nothing it declares." % header)

for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF

exit "$status"
