"""Keeps the benchmark code working (smallest sizes, a few seconds). No timing is asserted here."""

from __future__ import annotations

from pathlib import Path

from benchmarks import run


def test_backlog_and_knowledge_benchmarks_run_at_the_smallest_size(tmp_path: Path) -> None:
    backlog = run.bench_backlog(300, tmp_path, None, repeat=2, log_at_scale=True)
    assert backlog["items"] == 300 and backlog["review"]["runs"] == 2
    assert backlog["problems_indexed"] == 300 and backlog["log_one_problem_at_scale"]["runs"] == 2
    knowledge = run.bench_knowledge(50, tmp_path, repeat=2)
    assert knowledge["chunks"] >= 40 and knowledge["search"]["median_ms"] > 0


def test_retrieval_quality_meets_its_target() -> None:
    quality = run.bench_retrieval_quality()
    assert quality["documents"] == 4 and quality["recall_at_3"] >= 0.95


def test_page_benchmark_renders_every_page_and_answers_once(tmp_path: Path) -> None:
    pages = run.bench_pages(tmp_path, 50)["render_ms"]
    assert set(pages) >= {"log_problem", "backlog", "review", "assistant", "knowledge", "peak_rss_mb"}
    # The peak is the app process's own, not inherited from the process that started it.
    assert pages["peak_rss_mb_pages"] <= pages["peak_rss_mb"]
