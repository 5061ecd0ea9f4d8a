"""The leaders' quarterly review and its printed report at backlog scale.

    python -m benchmarks.review_report [--count 100000] [--repeat 3]

Seeds a fresh SQLite database in a temporary folder with ``--count`` demo items (``backlog seed-demo``'s
code), then times, for the running quarter: the review's figures (target mix, gap, candidates, money,
done list), the HTML with its six SVG charts (vl-convert), the PDF (WeasyPrint) and the item-level CSV.
Writes benchmarks/results-review-report.json and the "Quarterly review report" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import replace_section

ROOT = Path(__file__).resolve().parents[1]


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(count: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        os.environ["BACKLOG_DATA_DIR"] = data
        os.environ["BACKLOG_LLM"] = "none"
        from improvement.demo import seed_demo
        from improvement.domain import quarter_of
        from improvement.report import review_csv, review_html, review_pdf
        from improvement.review import quarterly_review
        from improvement.settings import get_settings
        from improvement.wiring import make_backend

        get_settings.cache_clear()
        backend = make_backend()
        start = time.perf_counter()
        seed_demo(backend.sessions, count=count)
        seeded = time.perf_counter() - start
        quarter = quarter_of(datetime.now(UTC))
        review_s, review = _median(lambda: quarterly_review(backend.sessions, quarter), repeat)
        html_s, html = _median(lambda: review_html(review), repeat)
        pdf_s, pdf = _median(lambda: review_pdf(review), repeat)
        csv_s, csv_text = _median(lambda: review_csv(backend.sessions, quarter), repeat)
        pdf_path = Path(data) / "review.pdf"
        pdf_path.write_bytes(pdf)
        pages = next(
            int(line.split()[-1])
            for line in subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Pages:")
        )
        return {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "items": count,
            "quarter": quarter,
            "quarter_items": review.total_items,
            "done_in_quarter": len(review.done_in_quarter),
            "seed_s": round(seeded, 1),
            "review_s": round(review_s, 3),
            "html_s": round(html_s, 2),
            "html_bytes": len(html),
            "pdf_s": round(pdf_s, 2),
            "pdf_bytes": len(pdf),
            "pdf_pages": pages,
            "csv_s": round(csv_s, 2),
            "csv_rows": csv_text.count("\n") - 1,
            "repeat": repeat,
        }


def markdown(r: dict[str, Any]) -> list[str]:
    return [
        "## Quarterly review report (`python -m benchmarks.review_report`)",
        "",
        f"{r['items']:,} demo items on SQLite, 2 shared cores; the running quarter {r['quarter']} holds "
        f"{r['quarter_items']:,} of them and {r['done_in_quarter']:,} were done in it. Median of {r['repeat']}; "
        f"measured {r['measured_at']}.",
        "",
        "| step | time | size |",
        "|---|---|---|",
        f"| the review's figures (mix, gap, 600 scored candidates, money, done list) | {r['review_s']} s | |",
        f"| HTML with six SVG charts (vl-convert) | {r['html_s']} s | {r['html_bytes']:,} bytes |",
        f"| PDF (WeasyPrint; includes the HTML) | {r['pdf_s']} s | {r['pdf_pages']} pages, {r['pdf_bytes']:,} bytes |",
        f"| item-level CSV of the quarter | {r['csv_s']} s | {r['csv_rows']:,} rows |",
        "",
        "The PDF's cost is the charts and the page layout, not the backlog's size: the done list in print stops "
        "at 100 rows (the CSV has them all).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = run(args.count, args.repeat)
    (ROOT / "benchmarks" / "results-review-report.json").write_text(json.dumps(results, indent=2) + "\n")
    replace_section(ROOT / "BENCHMARKS.md", "review-report", markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
