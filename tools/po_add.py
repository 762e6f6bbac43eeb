"""Add English translations to a capability's catalogue: ``python tools/po_add.py PKG FILE.tsv``.

The TSV holds ``中文<TAB>English`` lines; existing entries are kept, new ones appended, sorted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "src" / "ctown"


def main(pkg: str, tsv: str) -> None:
    po = (ROOT / pkg if pkg != "." else ROOT) / "locale" / "en.po"
    po.parent.mkdir(parents=True, exist_ok=True)
    catalog = read_po(po.open("rb")) if po.exists() else Catalog(locale="en", project="ctown")
    for line in Path(tsv).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            zh, en = line.split("\t", 1)
            catalog.add(zh, en)
    with po.open("wb") as fh:
        write_po(fh, catalog, sort_output=True, width=0, omit_header=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
