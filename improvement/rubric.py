"""Cues from the kaizen / kaikaku / kakushin rubric (DESIGN.md section 2).

They feed the classifier as three extra features and, above all, explain its answer: a person can
check which words pointed where. Pure Python, no framework imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from improvement.domain import Kind

_NUMBER = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|many|\d+)"

# General rubric language only (DESIGN.md section 2). Cues that merely echoed the wording of the project's own
# examples ("9-point", "by the cubic metre", bare "months" as lead time, "like a ...") were removed: they scored
# well in cross-validation on that set and misled on new text (a gym's "12-month contract" is not a lead time).
CUES: dict[Kind, list[tuple[str, str]]] = {
    Kind.KAIZEN: [
        (
            "wrong or missing information",
            r"\b(wrong|out of date|outdated|incorrect|missing|no longer exists?|typo|spelled wrong|old (address|name|number|price))\b",
        ),
        (
            "a missing notification or reminder",
            r"\b(not (told|notified|warned|reminded)|(aren't|isn't|wasn't|weren't) told|nobody told|no (confirmation|reminder|notification|warning)|doesn't (say|mention|show|tell|explain)|don't (say|mention|show|tell|explain)|reminder|notification)\b",
        ),
        (
            "a confusing message",
            r"\b(confusing|doesn't explain|without explaining|unclear|jargon|error message|no explanation)\b",
        ),
        (
            "a small defect",
            r"\b(bug|broken link|cut off|crash(es)?|freezes?|rejects?|times? out|doesn't (work|load|accept|open)|logs? (me|them|customers|users) out)\b",
        ),
        (
            "one screen, letter or message",
            r"\b(email|sms|text message|letter|form|page|button|screen|receipt|label|template|field)\b",
        ),
    ],
    Kind.KAIKAKU: [
        (
            "several departments or parties",
            rf"\b({_NUMBER} (departments|teams|agencies|offices|systems|companies|parties|queues)|each with (their|its) own|separate (teams|systems|departments|queues|processes)|different departments)\b",
        ),
        (
            "many hand-offs",
            r"\b(hand-?offs?|handovers?|passed between|bounced? between|sent between|one after another|in sequence|in turn|blames? (each other|the other|another))\b",
        ),
        (
            "weeks or months of lead time",
            rf"\b((takes?|took|wait(s|ed|ing)?|for|after) (up to |about |over )?({_NUMBER} |several |many )?(weeks|months))\b",
        ),
        (
            "incentives or KPIs that work against customers",
            r"\b(incentives?|commission|kpis?|bonus(es)?|(measured|judged|paid|rewarded|scored) (on|for|by|per))\b",
        ),
        (
            "paper, approvals and decision rights",
            r"\b(paper (forms?|process)|by post|wet signatures?|faxed|approvals?|sign-?off|committee|panel)\b",
        ),
        (
            "the organisation itself",
            r"\b(organisation|mergers?|merged|silos?|nobody owns|no (one|single) owner|end to end|franchises?)\b",
        ),
    ],
    Kind.KAKUSHIN: [
        (
            "a customer job nobody serves",
            r"\b((customers|people|parents|families|owners|players|users|they) (want|ask for|are asking for|keep asking)|wish|would (rather|like|love|pay)|i'?d (pay|love|like)|nobody offers|no one offers|(nothing|nobody) (like|does)|we (don't|do not) (offer|sell))\b",
        ),
        (
            "a new business model",
            r"\b(pay(ing)? (per|by the|only for|as (i|you|they) go)|per use|subscription|monthly fee|rent(ing)?|instead of (buying|owning)|included)\b",
        ),
        (
            "prediction and prevention",
            r"\b(before it (breaks|fails|happens|runs out)|predict(s|ion)?|prevent(s|ion)?|warn (me|them|us|owners|customers) (before|ahead))\b",
        ),
        (
            "a new channel or experience",
            r"\b(at home|video call|by video|any hour|at night|24/7|from (my|their) phone|one place|door to door)\b",
        ),
        (
            "an idea borrowed from another industry",
            r"\b(other industries|another industry|competitors? (abroad|elsewhere)|the way (some|other) \w+ (do|now))\b",
        ),
    ],
}

_COMPILED = {
    kind: [(label, re.compile(pattern, re.IGNORECASE)) for label, pattern in cues] for kind, cues in CUES.items()
}


@dataclass(frozen=True)
class CueHit:
    kind: Kind
    cue: str
    matched: str


def find_cues(text: str) -> list[CueHit]:
    hits: list[CueHit] = []
    for kind, cues in _COMPILED.items():
        for label, pattern in cues:
            match = pattern.search(text)
            if match:
                hits.append(CueHit(kind=kind, cue=label, matched=match.group(0)))
    return hits


def cue_counts(text: str) -> list[float]:
    """Cue counts per kind in a fixed order (kaizen, kaikaku, kakushin)."""
    hits = find_cues(text)
    return [float(sum(1 for h in hits if h.kind == kind)) for kind in Kind]


_STOPWORDS = frozenset(
    "the a an and or but of to in on at for with from by is are was were be been it its this that these those "
    "we our us they their them he she his her you your i my me not no so as if when then than there here "
    "who what which all any each can can't don't doesn't isn't aren't won't have has had do does did "
    "about after before into out up down over again only also more most some such very just get gets".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def english_share(text: str) -> float:
    """Share of common English function words: near 0 for text in another language."""
    words = [w.lower() for w in _WORD.findall(text)][:80]
    if len(words) < 4:
        return 1.0
    return sum(1 for w in words if w in _STOPWORDS) / len(words)
