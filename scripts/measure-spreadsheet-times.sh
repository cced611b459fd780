#!/bin/sh
# Which ledger time formats LibreOffice Calc opens as date-times.
#
# Writes one CSV per candidate format (time column, a number column), converts each to xlsx
# with LibreOffice headless -- first with the default CSV import, then with "Detect special
# numbers" on -- and reads the cell types back with openpyxl.
# Needs: soffice (apt-get install libreoffice-calc) and python3 with openpyxl (pip install
# openpyxl). Not run by `cargo test`; the result is recorded in README.md ("Files").
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
i=0
for t in "2026-11-24 15:00:00" "2026-11-24T15:00:00" "2026-11-24T15:00:00Z" "2026-11-24 15:00" "2026-11-24" "11/24/2026 15:00:00"; do
    i=$((i + 1))
    printf 'time_utc,equity\n%s,100000.5\n%s,100001.25\n' "$t" "$t" > "f$i.csv"
    echo "$t" > "f$i.txt"
done
# Default import, as a double click or File > Open with the dialog's defaults.
mkdir default special
soffice --headless --convert-to xlsx --outdir default f*.csv > /dev/null 2>&1
# Token 8 of the CSV filter options is "Detect special numbers".
soffice --headless --infilter='CSV:44,34,76,1,,1033,false,true' --convert-to xlsx --outdir special f*.csv > /dev/null 2>&1
python3 - <<'PY'
import glob, openpyxl
print(f"{'format':24} {'default import':28} {'detect special numbers':28}")
for txt in sorted(glob.glob("f*.txt")):
    stem = txt[:-4]
    row = [open(txt).read().strip()]
    for mode in ("default", "special"):
        cell = openpyxl.load_workbook(f"{mode}/{stem}.xlsx").active["A2"]
        row.append(f"{cell.data_type} {type(cell.value).__name__} {cell.number_format}")
    row.append("")
    num = openpyxl.load_workbook(f"default/{stem}.xlsx").active["B2"]
    print(f"{row[0]:24} {row[1]:28} {row[2]:28} (number cell: {num.data_type})")
PY
soffice --version
