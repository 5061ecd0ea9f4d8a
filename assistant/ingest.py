"""Read articles (.txt, .md, .html, .pdf), strip web noise, keep title, author and source; chunk them.

Parsing uses well-kept libraries: trafilatura for HTML, pypdf for PDF, charset-normalizer for text
in other encodings, LangChain's text splitter for chunks on paragraph and sentence boundaries.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024
CHUNK_SIZE = 900
CHUNK_OVERLAP = 150


class IngestError(ValueError):
    """This file cannot be ingested; the message says why. Other files go on."""


@dataclass(frozen=True)
class ParsedDocument:
    source: str
    title: str
    author: str
    url: str
    text: str
    sha256: str


# Lines that are page furniture, not content: share buttons, comment forms, image credits.
_NOISE_LINE = re.compile(
    r"^\s*(share on \w+|share this|tweet|like|reply|leave a reply\.?\s*\|?|\d+ comments?|"
    r"please enter your (comment|name).*|your email address.*|image:.*|read more|subscribe.*|sign up.*|"
    r"cookie.*|accept( all)? cookies.*|"
    r"archives|categories|all|\|)\s*$",
    re.IGNORECASE,
)
# Where the article ends and the comment section or sign-off begins.
_END_MARKERS = re.compile(
    r"^\s*(please use comments to add value|leave a reply|comments?\s*$|join the conversation|"
    r"要查看或添加评论|related posts|you may also like)",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_AUTHOR = [
    re.compile(r"^\s*(?:written )?by\s+([A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})", re.IGNORECASE),
    re.compile(r"^\s*author:?\s*([A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})", re.IGNORECASE),
    re.compile(r"\(c\)\s*\d{4}\s*-\s*([A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})", re.IGNORECASE),
]
_URL = re.compile(
    r"(?:first appeared on|original(?:ly)? (?:published|posted) (?:at|on)):?\s*(https?://\S+)", re.IGNORECASE
)
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise IngestError(f"{name} is a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise IngestError(f"{name}: cannot tell which text encoding it uses; save it as UTF-8") from None
        return str(best)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            meta[key.strip().lower()] = value
    return meta, text[match.end() :]


def clean_article_text(text: str) -> tuple[str, str, str]:
    """Drop web-page noise; return (text, author guess, url guess)."""
    author = ""
    url = ""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not url and (m := _URL.search(line)):
            url = m.group(1).rstrip(".,)")
            continue
        if not author:
            for pattern in _AUTHOR:
                if m := pattern.search(line):
                    author = m.group(1).split("|")[0].strip()
                    break
        if _END_MARKERS.match(line) and len(kept) > 5:
            break
        if _NOISE_LINE.match(line) or _CJK.search(line):
            continue
        kept.append(line.rstrip())
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return cleaned, author, url


def _title_from(text: str, fallback: str) -> str:
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if 3 <= len(line) <= 200:
            return line
    return fallback


def parse_bytes(data: bytes, name: str) -> ParsedDocument:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise IngestError(f"{name}: unsupported file type {suffix or '(none)'}; use .txt, .md, .html or .pdf")
    if not data.strip():
        raise IngestError(f"{name} is empty")
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(f"{name} is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    digest = hashlib.sha256(data).hexdigest()
    stem = Path(name).stem.replace("_", " ").replace("-", " ")
    meta: dict[str, str] = {}
    if suffix == ".pdf":
        text, title, author = _read_pdf(data, name)
        url = ""
    elif suffix in (".html", ".htm"):
        text, title, author, url = _read_html(_decode(data, name), name)
    else:
        meta, body = _front_matter(_decode(data, name))
        text, author, url = clean_article_text(body)
        title = meta.get("title") or _title_from(text, stem)
        author = meta.get("author") or author
        url = meta.get("url") or meta.get("source") or url
    text = text.strip()
    if len(text) < 20:
        raise IngestError(f"{name}: no readable text found")
    return ParsedDocument(
        source=name, title=title.strip()[:500], author=author.strip()[:500], url=url[:1000], text=text, sha256=digest
    )


def _read_pdf(data: bytes, name: str) -> tuple[str, str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    if not data.startswith(b"%PDF"):
        raise IngestError(f"{name} is not a PDF (it has a .pdf name but different content)")
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = []
        for page in reader.pages:
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()  # decoded within pypdf's size limits: a decompression bomb stops here
            pages.append(page.extract_text() or "")
        info = reader.metadata
    except LimitReachedError:
        raise IngestError(f"{name}: a page expands beyond the safe size (a decompression bomb?); not read") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        raise IngestError(f"{name}: damaged or unreadable PDF ({error})") from None
    text, author_guess, _url = clean_article_text("\n\n".join(pages))
    title = (info.title if info and info.title else "") or _title_from(text, Path(name).stem)
    author = (info.author if info and info.author else "") or author_guess
    return text, title, author


def _read_html(html: str, name: str) -> tuple[str, str, str, str]:
    try:
        import trafilatura

        text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""
        meta = trafilatura.extract_metadata(html)
    except ImportError as error:  # e.g. lxml.html.clean, now the separate lxml-html-clean package
        raise IngestError(f"{name}: HTML cannot be read on this install ({error})") from None
    text, author_guess, url_guess = clean_article_text(text)
    title = (meta.title if meta and meta.title else "") or _title_from(text, Path(name).stem)
    author = (meta.author if meta and meta.author else "") or author_guess
    url = (meta.url if meta and meta.url else "") or url_guess
    return text, title, author, url


def read_regular(path: Path, *, follow: bool) -> bytes:
    """The bytes of a regular file; never a device, FIFO or socket, and no symbolic link unless ``follow``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise IngestError(f"{path}: no such file or folder") from None
    except PermissionError:
        raise IngestError(f"{path}: permission denied") from None
    except OSError as error:
        if not follow and path.is_symlink():
            raise IngestError(f"{path}: a symbolic link; only regular files inside the folder are read") from None
        raise IngestError(f"{path}: cannot be read ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise IngestError(f"{path}: not a regular file (devices, pipes and sockets are never read)")
        if info.st_size > MAX_FILE_BYTES:
            raise IngestError(
                f"{path.name} is {info.st_size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
            )
        try:
            return handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise IngestError(f"{path}: cannot be read ({error.strerror})") from None


def read_file(path: Path, source: str | None = None, *, follow: bool = True) -> ParsedDocument:
    """Read and parse one file. ``source`` is the document's key (default: the file name)."""
    data = read_regular(path, follow=follow)
    parsed = parse_bytes(data, path.name)
    return ParsedDocument(source or path.name, parsed.title, parsed.author, parsed.url, parsed.text, parsed.sha256)


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str  # the document's key: "<folder>/<path inside it>" for a folder, the file name for a file
    in_folder: bool


def expand_paths(paths: list[Path]) -> tuple[list[FoundFile], list[dict[str, str]]]:
    """The files to ingest. In a folder only regular files are read: symbolic links (to files or folders)
    and special files are reported and skipped, so nothing outside the folder can get in."""
    files: list[FoundFile] = []
    failed: list[dict[str, str]] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            root = path.resolve()
            found: list[FoundFile] = []
            skipped = len(failed)
            for folder, dirs, names in os.walk(path, followlinks=False):
                here = Path(folder)
                for name in sorted(dirs):
                    if (here / name).is_symlink():
                        failed.append({"path": str(here / name), "error": "a symbolic link to a folder; skipped"})
                for name in sorted(names):
                    candidate = here / name
                    if candidate.suffix.lower() not in SUPPORTED:
                        continue
                    info = os.lstat(candidate)
                    if stat.S_ISLNK(info.st_mode):
                        failed.append({"path": str(candidate), "error": "a symbolic link; only regular files are read"})
                    elif not stat.S_ISREG(info.st_mode):
                        failed.append({"path": str(candidate), "error": "not a regular file; skipped"})
                    else:
                        relative = candidate.relative_to(path).as_posix()
                        found.append(FoundFile(candidate, f"{root.name}/{relative}", True))
            if not found and len(failed) == skipped:
                failed.append({"path": str(path), "error": "the folder holds no .txt, .md, .html or .pdf files"})
            files.extend(sorted(found, key=lambda f: f.source))
        elif path.is_dir():
            failed.append({"path": str(path), "error": "a symbolic link to a folder; give the folder itself"})
        elif path.exists():
            files.append(FoundFile(path, path.name, False))
        else:
            failed.append({"path": str(path), "error": "no such file or folder"})
    return files, failed


def split_text(text: str) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE,
        chunk_overlap=CHUNK_OVERLAP,
        keep_separator="end",
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
    )
    return [c.strip() for c in splitter.split_text(text) if c.strip()]
