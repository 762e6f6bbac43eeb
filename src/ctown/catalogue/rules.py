"""What the law forbids collecting (征信业管理条例 第十四条).

Article 14 forbids collecting religious belief, genes, fingerprints, blood type, illness and medical
history. The statutory list lives in code so that deleting it from a county's file does not switch
the check off; a county may add terms in the file's ``forbidden`` list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ctown.i18n import Message, _

STATUTORY_TERMS: tuple[str, ...] = (
    "宗教", "信仰", "基因", "指纹", "血型", "疾病", "病史", "病历", "患病", "既往病",
    "religion", "religious", "faith", "gene", "genes", "genetic", "dna", "fingerprint",
    "fingerprints", "blood type", "blood group", "illness", "disease", "medical history",
    "medical record",
)


def _pattern(term: str) -> re.Pattern[str]:
    # Chinese terms match anywhere; Latin terms only as whole words ("gene" must not hit "general").
    if re.fullmatch(r"[A-Za-z ]+", term):
        return re.compile(r"(?<![a-z])" + re.escape(term.lower()) + r"(?![a-z])")
    return re.compile(re.escape(term))


def forbidden_hit(texts: Iterable[str], extra: Iterable[str] = ()) -> str | None:
    """The first forbidden term found in any of ``texts`` (case-insensitive), or None."""
    terms = list(dict.fromkeys([*STATUTORY_TERMS, *extra]))
    lowered = [t.lower() for t in texts if t]
    for term in terms:
        pat = _pattern(term)
        if any(pat.search(t) for t in lowered):
            return term
    return None


def forbidden_message(code: str, term: str) -> Message:
    return Message(_("指标 {code} 涉及法律禁止采集的信息“{term}”（《征信业管理条例》"
                     "第十四条禁止采集宗教信仰、基因、指纹、血型、疾病和病史信息），不得列入目录"),
                   {"code": code, "term": term})
