"""The Chinese font of the printed board: Debian's Noto Sans CJK SC (``fonts-noto-cjk``), embedded
in the PDF as a subset of exactly the characters printed.

Why not hand fpdf2 the ``.ttc`` itself: Noto CJK has PostScript (CFF, CID-keyed) outlines, which
fpdf2 embeds correctly by the book — a font whose ``/Encoding`` is a CMap of its own — but which
pypdf (and other simple extractors) misread as one byte per character: the text of a board read
back as ``\\x00信\\x00用…``. So the characters of an edition are drawn from the Noto outlines
into a small TrueType font (cubic curves to quadratic, within 1/1000 em) that fpdf2 embeds the
ordinary way (``Identity-H``, ``FontFile2``): the glyphs are Noto's, every reader reads the text.

Loading the face (its character map and outlines index, 44,000 characters) costs about a second,
so it is loaded once per process (:func:`source_font`) and shared by every edition built; the
subset of one edition (a few hundred characters) takes a tenth of a second
(``benchmarks/noticeboard.py``).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ctown.errors import DomainError
from ctown.i18n import Message, _

#: Debian's fonts-noto-cjk (``make browser`` installs it); face 2 of the collection is SC (简体).
FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_NUMBER = 2
FAMILY = "NotoSansCJKSC"


class FontMissing(DomainError):
    """The Chinese font is not installed: no board can be printed (nothing is built)."""

    status_code = 503
    default = _("找不到中文字体：请安装 fonts-noto-cjk（make browser）后重试")


@dataclass
class SourceFont:
    """One face of the collection, opened lazily: what a subset is drawn from."""

    path: Path
    cmap: dict[int, str]
    glyphs: Any  # fontTools glyph set
    advance: dict[str, int]
    units_per_em: int
    ascent: int
    descent: int
    load_ms: float
    lock: threading.Lock = field(default_factory=threading.Lock)  # fontTools reads lazily

    def covers(self, char: str) -> bool:
        return ord(char) in self.cmap


@lru_cache(maxsize=2)
def source_font(path: Path = FONT_PATH, number: int = FONT_NUMBER) -> SourceFont:
    """The face, loaded once per process (about a second)."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    if not path.is_file():
        raise FontMissing(Message(_("找不到中文字体 {path}：请安装 fonts-noto-cjk（make browser）后重试"),
                                  {"path": str(path)}))
    start = time.perf_counter()
    # Read into memory (19 MB): the face is read lazily for the life of the process, and a file
    # left open would be a leaked descriptor.
    font = TTFont(io.BytesIO(path.read_bytes()), fontNumber=number, lazy=True)
    cmap = dict(font.getBestCmap())
    hmtx = font["hmtx"]
    advance = {name: width for name, (width, _lsb) in hmtx.metrics.items()}
    hhea = font["hhea"]
    return SourceFont(path=path, cmap=cmap, glyphs=font.getGlyphSet(), advance=advance,
                      units_per_em=font["head"].unitsPerEm, ascent=hhea.ascent,
                      descent=hhea.descent, load_ms=(time.perf_counter() - start) * 1000)


def subset_ttf(font: SourceFont, chars: Iterable[str]) -> bytes:
    """A TrueType font holding the glyphs of ``chars`` (those the face has) and nothing else."""
    from fontTools.fontBuilder import FontBuilder  # type: ignore[import-untyped]
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]

    wanted = sorted({c for c in chars if font.covers(c)} | {" "})
    mapping = {ord(c): font.cmap[ord(c)] for c in wanted}
    names = [".notdef", *sorted(set(mapping.values()) - {".notdef"})]
    outlines = {}
    with font.lock:
        for name in names:
            pen = TTGlyphPen(None)
            font.glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
            outlines[name] = pen.glyph()
    builder = FontBuilder(font.units_per_em, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap(mapping)
    builder.setupGlyf(outlines)
    builder.setupHorizontalMetrics({n: (font.advance[n], getattr(outlines[n], "xMin", 0))
                                    for n in names})
    builder.setupHorizontalHeader(ascent=font.ascent, descent=font.descent)
    builder.setupOS2(sTypoAscender=font.ascent, sTypoDescender=font.descent,
                     usWinAscent=font.ascent, usWinDescent=-font.descent, fsType=0)
    builder.setupNameTable({"familyName": "Noto Sans CJK SC", "styleName": "Regular",
                            "psName": FAMILY})
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()
