"""Cues from the kaizen / kaikaku / kakushin rubric (DESIGN.md section 2).

They feed the classifier as three extra features and, above all, explain its answer: a person can
check which words pointed where. Pure Python, no framework imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from improvement.domain import Kind

_NUMBER = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|many|\d+)"

CUES: dict[Kind, list[tuple[str, str]]] = {
    Kind.KAIZEN: [
        (
            "wrong or missing information",
            r"\b(wrong|out of date|outdated|incorrect|missing|no longer exists?|deleted|typo|old (address|name|number))\b",
        ),
        (
            "a missing notification or reminder",
            r"\b(not (told|notified|warned|reminded)|aren't told|isn't told|no (confirmation|reminder|update|notification|warning)|doesn't (say|mention|show|tell|explain)|don't (say|mention|show|tell|explain)|reminder|notify|notification)\b",
        ),
        (
            "a confusing message",
            r"\b(confusing|doesn't explain|without explaining|nobody explains|unclear|tells users nothing|jargon|error message|code \d+)\b",
        ),
        (
            "a small defect",
            r"\b(bug|cut off|freezes?|rejects?|fails? if|doesn't accept|logs? (customers )?out|forgets|lags|too small|9-point)\b",
        ),
        (
            "one screen, letter or message",
            r"\b(email|sms|text message|letter|form|page|button|screen|receipt|label|kiosk|widget|field)\b",
        ),
    ],
    Kind.KAIKAKU: [
        (
            "several departments or parties",
            rf"\b({_NUMBER} (departments|teams|agencies|authorities|offices|systems|platforms|directors|parties|companies|operators|queues|committees)|each with (their|its) own|separate(ly)? (teams|systems|departments|queues|processes)|different departments)\b",
        ),
        (
            "many hand-offs",
            r"\b(hand-?offs?|passed between|bounces? between|goes? through|passes through|in turn|one after another|in sequence|sent between|chase|chasing)\b",
        ),
        ("weeks or months of lead time", rf"\b({_NUMBER} (weeks|months)|weeks|months|a month|a year)\b"),
        (
            "incentives or KPIs that work against customers",
            r"\b(incentives?|commission|targets?|kpis?|rewarded|measured on|judged on|paid on|bonus)\b",
        ),
        (
            "paper, approvals and decision rights",
            r"\b(paper|wet signatures?|faxed|approval|sign-?off|committee|re-typed|original documents|centrally)\b",
        ),
        (
            "the organisation itself",
            r"\b(organisation|mergers?|silos?|report to different|nobody owns|no single place|end to end|whole journey)\b",
        ),
    ],
    Kind.KAKUSHIN: [
        (
            "a customer job nobody serves",
            r"\b(want|wants|wish|would (rather|like|love|pay)|ask (for|whether)|nobody offers|no support|no idea|struggle|worry|worries|dread|hate)\b",
        ),
        (
            "a new business model",
            r"\b(pay(ing)? (for|per|by)|per use|subscription|by the (cubic metre|hour|mile)|rent|instead of (buying|owning)|own(ing)? one|included)\b",
        ),
        (
            "prediction and prevention",
            r"\b(before (it|they|the|a)|prevent|predict|a week before|warn them|detected|in the moment|automatically|never (stop|think))\b",
        ),
        (
            "a new channel or experience",
            r"\b(at home|by video|any hour|at night|on their (phone|commute)|one place|one booking|one package|personalised|in minutes|door to|front door)\b",
        ),
        (
            "an idea borrowed from another industry",
            r"\b(other industries|the way they|as easily as|like (a|an|the) \w+|from another industry)\b",
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
