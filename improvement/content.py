"""Is there a customer problem in this text at all? Pure Python, no framework imports.

A classifier always returns one of its kinds, however little it is given: "ok" or "asdf qwer zxcv" came back
kaizen at 92% before this check. Text that is too short, keyboard mash, or a placeholder is flagged for a
person instead, with a rationale that says which of these it is.
"""

from __future__ import annotations

import re

MIN_CONTENT_WORDS = 3

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# Words that carry no problem on their own: function words, greetings, filler and ticket boilerplate.
_EMPTY_WORDS = frozenset(
    "the a an and or but of to in on at for with from by is are was were be been it its this that these those "
    "we our us they their them he she his her you your i my me not no so as if when then than there here who "
    "what which all any each can have has had do does did about after before into out up down over again only "
    "also more some such very just get gets got ok okay hi hello hey dear thanks thank cheers regards please "
    "pls plz yes yeah yep nope na none nothing something stuff thing things see above below per call calls "
    "called discussed as-discussed fix fixed help issue issues problem problems complaint complaints customer "
    "customers ticket tickets urgent asap todo tbd tba test tests testing ignore sample example etc misc other "
    "blah foo bar baz lol".split()
)
_PLACEHOLDERS = re.compile(
    r"lorem ipsum|dolor sit amet|\b(?:placeholder|tbd|tba|n/?a|todo|fill (?:me|this) in|to be (?:confirmed|completed)"
    r"|description (?:goes )?here|insert .{0,30}here|test (?:ticket|entry|problem)|please ignore)\b"
    r"|^\s*[\[<{].{0,40}[\]>}]\s*$",
    re.IGNORECASE,
)
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
_VOWELS = set("aeiouyàáâäèéêëìíîïòóôöùúûüåæøœ")


def _looks_mashed(word: str) -> bool:
    """A token typed to fill a field: a run along one keyboard row, no vowels, or one letter repeated."""
    w = word.lower()
    if len(w) < 3 or (word.isupper() and len(word) <= 5):  # too short to tell, or an acronym (SMS, PDF, KYC)
        return False
    if len(set(w)) <= 2 and len(w) >= 4:  # "aaaa", "jjjjjjjj", "abab"
        return True
    if any(w in row or w in row[::-1] for row in _KEYBOARD_ROWS):
        return True
    if not (set(w) & _VOWELS) and w.isascii():
        return True
    half = len(w) // 2
    return len(w) >= 6 and w[:half] == w[half : 2 * half]  # "sdfsdf"


def content_problem(text: str) -> str | None:
    """Why ``text`` cannot be classified (a phrase for the rationale), or None when it has content."""
    stripped = text.strip()
    if _PLACEHOLDERS.search(stripped):
        return "the text looks like a placeholder or a test entry, not a customer problem"
    words = _WORD.findall(stripped)
    if words and 2 * sum(_looks_mashed(w) for w in words) >= len(words):
        return "the text looks like keyboard mash, not a customer problem"
    content = {w.lower() for w in words if len(w) >= 2 and w.lower() not in _EMPTY_WORDS}
    if len(content) < MIN_CONTENT_WORDS:
        shown = len(words)
        return (
            f"the text is too short to say what kind of improvement it needs ({shown} word{'s' * (shown != 1)}, "
            f"fewer than {MIN_CONTENT_WORDS} that carry meaning)"
        )
    return None
