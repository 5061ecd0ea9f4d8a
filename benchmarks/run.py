"""Reproducible benchmarks: ``python -m benchmarks.run [--quick] [--no-postgres]``.

Builds its own data in a temporary folder (seed-demo at 1,000 / 10,000 / 100,000 items, knowledge bases
of 100 / 1,000 / 10,000 chunks), measures medians and p95 over repeated runs, sets each figure beside a
physical anchor (raw SQL, raw Chroma query, the raw embedding model), and writes BENCHMARKS.md and
benchmarks/results.json. Timings live here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get("BACKLOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
        "runs": len(samples),
    }


def timed(func: Callable[[], Any], repeat: int) -> dict[str, float]:
    func()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return _summary(samples)


def fresh_env(data_dir: Path, database_url: str | None = None) -> None:
    from improvement.settings import get_settings

    for name in [n for n in os.environ if n.startswith("BACKLOG_")]:
        if name not in ("BACKLOG_TEST_POSTGRES_URL",):
            del os.environ[name]
    os.environ["BACKLOG_DATA_DIR"] = str(data_dir)
    os.environ["BACKLOG_LLM"] = "none"
    os.environ["BACKLOG_CLASSIFIER_CACHE"] = str(Path(tempfile.gettempdir()) / "backlog-bench-classifier")
    if database_url:
        os.environ["BACKLOG_DATABASE_URL"] = database_url
    get_settings.cache_clear()


def _prepare_backlog(size: int, work: Path, database_url: str | None) -> dict[str, Any]:
    """A seeded database of ``size`` items and the operations to time on it."""
    from sqlalchemy import text

    from improvement.demo import seed_demo
    from improvement.domain import quarter_of
    from improvement.models import ItemFilter
    from improvement.review import quarterly_review
    from improvement.wiring import make_backend

    fresh_env(work / f"backlog-{size}", database_url)
    env = {**os.environ}  # this size's settings, for the `backlog list` process
    backend = make_backend()
    start = time.perf_counter()
    seed_demo(backend.sessions, count=size)
    seed_seconds = time.perf_counter() - start
    service = backend.backlog(with_models=False)
    quarter = quarter_of(__import__("datetime").datetime.now())
    one_quarter = ItemFilter(kinds=["kaikaku"], statuses=["new", "triaged"], quarters=[quarter])
    # At 1,000 items one quarter's kaikaku matches fewer than a page, so its ratio compares a 15-row page
    # with a 50-row one. The same filter over every quarter fills the page at every size: like for like.
    every_quarter = ItemFilter(kinds=["kaikaku"], statuses=["new", "triaged"])
    search = ItemFilter(text="refund")

    def raw_group_by() -> None:
        with backend.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT kind, status, count(*), sum(value_at_risk) FROM improvements "
                    "WHERE quarter = :q GROUP BY kind, status"
                ),
                {"q": quarter},
            ).all()

    return {
        "backend": backend,
        "env": env,
        "out": {
            "items": size,
            "seed_demo_seconds": round(seed_seconds, 2),
            "filtered_page_items": len(service.list_items(one_quarter, limit=50).items),
            "filtered_all_quarters_items": len(service.list_items(every_quarter, limit=50).items),
            "search_page_items": len(service.list_items(search, limit=50).items),
        },
        "operations": {
            "list_page": lambda: service.list_items(ItemFilter(), limit=50),
            "filtered_page": lambda: service.list_items(one_quarter, limit=50),
            "filtered_all_quarters": lambda: service.list_items(every_quarter, limit=50),
            "search_page": lambda: service.list_items(search, limit=50),
            "review": lambda: quarterly_review(backend.sessions, quarter),
            "anchor_raw_group_by": raw_group_by,
        },
    }


def bench_backlog_sizes(
    sizes: list[int],
    work: Path,
    database_urls: list[str | None],
    repeat: int,
    *,
    log_at_scale: bool = False,
) -> list[dict[str, Any]]:
    """Seed every size first, then time them in rounds, each round visiting every size.

    Interleaving puts each size's samples in the same stretches of time, so a noisy neighbour on a shared
    machine slows all sizes alike instead of skewing one size's median (runs back to back moved the
    review's 100k/1k ratio between 1.1x and 1.6x).
    """
    prepared = [_prepare_backlog(size, work, url) for size, url in zip(sizes, database_urls, strict=True)]
    for p in prepared:
        for operation in p["operations"].values():
            operation()  # warm-up
    samples: dict[tuple[int, str], list[float]] = {}
    cli: dict[int, list[float]] = {i: [] for i in range(len(prepared))}
    for round_number in range(repeat):
        for i, p in enumerate(prepared):
            for name, operation in p["operations"].items():
                start = time.perf_counter()
                operation()
                samples.setdefault((i, name), []).append((time.perf_counter() - start) * 1000)
            if round_number % 4 == 0:
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "improvement", "list", "--limit", "50", "--json"],
                    env=p["env"],
                    check=True,
                    capture_output=True,
                )
                cli[i].append((time.perf_counter() - start) * 1000)
    results = []
    for i, p in enumerate(prepared):
        out = dict(p["out"])
        for name in p["operations"]:
            out[name] = _summary(samples[(i, name)])
        out["cli_list_process_ms"] = round(statistics.median(cli[i]), 1)
        if log_at_scale and i == len(prepared) - 1:
            out.update(_log_at_scale(p["backend"], repeat))
        p["backend"].engine.dispose()
        results.append(out)
    return results


def bench_backlog(
    size: int, work: Path, database_url: str | None, repeat: int, *, log_at_scale: bool = False
) -> dict[str, Any]:
    return bench_backlog_sizes([size], work, [database_url], repeat, log_at_scale=log_at_scale)[0]


def _log_at_scale(backend: Any, repeat: int) -> dict[str, Any]:
    """Logging one problem when every demo problem is in the similar-problem index, as for a real team."""
    from assistant.doctor import index_missing_problems
    from improvement.classification import load_examples

    start = time.perf_counter()
    indexed = index_missing_problems(backend)
    index_seconds = time.perf_counter() - start
    return {
        "problems_indexed": indexed,
        "index_problems_seconds": round(index_seconds, 1),
        "log_one_problem_at_scale": _time_logging(backend, _fresh_texts([e.text for e in load_examples()]), repeat),
    }


def _fresh_texts(texts: list[str]) -> Callable[[], str]:
    """Every call a text never seen before, so the embedder's memory of recent texts never answers for it."""
    counter = iter(range(10**9))
    return lambda: f"{random.choice(texts)} (case {next(counter)})"


def _time_logging(backend: Any, fresh_text: Callable[[], str], repeat: int) -> dict[str, float]:
    service = backend.backlog()
    service.log_problem({"description": "warm-up problem about a wrong invoice"}, actor="bench")
    return timed(
        lambda: service.log_problem({"description": fresh_text(), "value_at_risk": "1000"}, actor="bench"), repeat
    )


def bench_classifier(repeat: int) -> dict[str, Any]:
    from assistant.embeddings import get_embedder
    from improvement.classification import load_examples
    from improvement.wiring import make_backend

    fresh_env(Path(tempfile.mkdtemp()))
    embedder = get_embedder()
    texts = [e.text for e in load_examples()]
    batch = texts * 2
    classifier = make_backend().classifier()
    embedder.embed(batch[:32])
    classifier.classify(batch[:16])
    # The model alone and our classifier take turns, five rounds: a noisy moment hits both alike.
    raw_rates, our_rates = [], []
    for _ in range(5):
        start = time.perf_counter()
        embedder.embed(batch)
        raw_rates.append(len(batch) / (time.perf_counter() - start))
        start = time.perf_counter()
        classifier.classify(batch)
        our_rates.append(len(batch) / (time.perf_counter() - start))
    raw, ours = statistics.median(raw_rates), statistics.median(our_rates)
    fresh_text = _fresh_texts(texts)
    one = timed(lambda: classifier.classify([fresh_text()]), repeat)
    log_one = _time_logging(make_backend(), fresh_text, repeat)
    return {
        "embedding_sentences_per_s": round(raw, 1),
        "classify_batch_per_s": round(ours, 1),
        "ratio_to_embedding_model": round(ours / raw, 3),
        "classify_one_warm": one,
        "log_one_problem_warm": log_one,
    }


def _synthetic_documents(chunks: int) -> list[tuple[str, str]]:
    """Documents made of the project's own sentences, about 900 characters per chunk."""
    from assistant.playbook import IDEAS_PATH
    from improvement.classification import load_examples

    rng = random.Random(chunks)
    playbook = json.loads(IDEAS_PATH.read_text())
    sentences = [e.text for e in load_examples()] + [
        f"{i['idea']}. {i['how_it_transfers']}." for i in playbook["cross_industry_ideas"]
    ]
    docs = []
    per_doc = 50
    for d in range(max(1, chunks // per_doc)):
        paragraphs = [" ".join(rng.sample(sentences, 6)) for _ in range(per_doc)]
        docs.append((f"synthetic-{d:04d}.md", f"# Synthetic article {d}\n\n" + "\n\n".join(paragraphs)))
    return docs


def bench_knowledge(chunks: int, work: Path, repeat: int) -> dict[str, Any]:
    from assistant.embeddings import get_embedder
    from assistant.ingest import parse_bytes
    from improvement.wiring import make_backend

    fresh_env(work / f"kb-{chunks}")
    os.environ["BACKLOG_STARTER_KNOWLEDGE"] = "false"
    from improvement.settings import get_settings

    get_settings.cache_clear()
    backend = make_backend()
    kb = backend.knowledge
    docs = [parse_bytes(text.encode(), name) for name, text in _synthetic_documents(chunks)]
    start = time.perf_counter()
    added = sum(kb.add_document(doc) for doc in docs)
    seconds = time.perf_counter() - start
    sample = [
        c for doc in docs[:2] for c in __import__("assistant.ingest", fromlist=["split_text"]).split_text(doc.text)
    ]
    embedder = get_embedder()
    start = time.perf_counter()
    embedder.embed(sample[:128])
    raw_chunk_rate = min(128, len(sample)) / (time.perf_counter() - start)
    queries = [
        "customers are not told about delays",
        "pay per use instead of buying equipment",
        "claims pass through several departments",
        "report the money at risk",
    ]
    kb.search(queries[0])
    search = timed(lambda: kb.search(random.choice(queries), k=5), repeat)
    vector = embedder.embed(queries)
    anchor = timed(
        lambda: backend.vector_store.knowledge.query(query_embeddings=[vector[random.randrange(4)]], n_results=5),
        repeat,
    )
    return {
        "chunks": added,
        "ingest_chunks_per_s": round(added / seconds, 1),
        "embedding_chunks_per_s_raw": round(raw_chunk_rate, 1),
        "ingest_ratio_to_embedding_model": round(added / seconds / raw_chunk_rate, 3),
        "search": search,
        "anchor_raw_chroma_query": anchor,
    }


def bench_retrieval_quality() -> dict[str, Any]:
    from benchmarks.retrieval_eval import evaluate_retrieval

    fresh_env(Path(tempfile.mkdtemp()))
    os.environ["BACKLOG_STARTER_KNOWLEDGE"] = "false"
    return evaluate_retrieval()


def bench_ask(repeat: int) -> dict[str, Any]:
    from assistant.chain import Assistant
    from improvement.wiring import make_backend

    fresh_env(Path(tempfile.mkdtemp()))
    os.environ["BACKLOG_LLM"] = "local"
    from improvement.settings import get_settings

    get_settings.cache_clear()
    backend = make_backend()
    assistant = Assistant.from_backend(backend)
    questions = ["How should leaders use customer stories?", "What is kaizen?", "Why report value at risk?"]
    assistant.ask(questions[0])
    first, full = [], []
    for i in range(repeat):
        prepared = assistant.prepare(questions[i % 3])
        start = time.perf_counter()
        stream = assistant.stream_text(prepared)
        next(stream)
        first.append((time.perf_counter() - start) * 1000)
        "".join(stream)
        full.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "improvement", "ask", questions[1], "--json"],
        check=True,
        capture_output=True,
        env={**os.environ},
    )
    return {
        "first_token_ms_median": round(statistics.median(first), 1),
        "full_answer_ms_median": round(statistics.median(full), 1),
        "cli_ask_process_ms": round((time.perf_counter() - start) * 1000, 1),
    }


def bench_pages(work: Path, size: int) -> dict[str, Any]:
    """Each page's render time with ``size`` items, then one question answered by the local model on the
    assistant page; the peak memory is that app process's own (VmHWM: a forked child's ru_maxrss would
    include the benchmark process it was forked from)."""
    code = f"""
import json, time
from streamlit.testing.v1 import AppTest
from improvement.cli import main
main(["seed-demo", "--count", "{size}", "--no-index"])
out = {{}}
for page in ["app_pages/log_problem.py", "app_pages/backlog.py", "app_pages/review.py", "app_pages/assistant.py",
             "app_pages/knowledge.py"]:
    at = AppTest.from_file("{ROOT / "streamlit_app.py"}", default_timeout=300)
    at.run()
    at.switch_page(page)
    samples = []
    for _ in range(3):
        start = time.perf_counter(); at.run(); samples.append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
    out[page.split("/")[1][:-3]] = round(sorted(samples)[1], 1)
before = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
at = AppTest.from_file("{ROOT / "app_pages/assistant.py"}", default_timeout=300)
at.run()
start = time.perf_counter()
at.chat_input(key="chat_question").set_value("How do leaders pre-empt problems?").run()
assert not at.exception, at.exception
out["assistant_answer_ms"] = round((time.perf_counter() - start) * 1000, 1)
after = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
out["peak_rss_mb_pages"] = round(int(before.split()[1]) / 1024, 1)
out["peak_rss_mb"] = round(int(after.split()[1]) / 1024, 1)
print(json.dumps(out))
"""
    env = {**os.environ, "BACKLOG_DATA_DIR": str(work / f"pages-{size}"), "BACKLOG_LLM": "local"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return {"items": size, "render_ms": json.loads(result.stdout.strip().splitlines()[-1])}


def postgres_url() -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text

    name = f"backlog_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def _backlog_runs(sizes: list[int], work: Path, repeat: int, postgres: bool) -> dict[str, Any]:
    print(f"backlog sqlite {sizes}…", flush=True)
    results: dict[str, Any] = {
        "backlog_sqlite": bench_backlog_sizes(sizes, work, [None] * len(sizes), repeat, log_at_scale=True)
    }
    if postgres:
        print(f"backlog postgresql {sizes}…", flush=True)
        databases = [postgres_url() for _ in sizes]
        try:
            results["backlog_postgresql"] = bench_backlog_sizes(sizes, work / "pg", [u for u, _ in databases], repeat)
        finally:
            for _, drop in databases:
                drop()
    return results


def _backlog_only(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [1000] if args.quick else [1000, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        return _backlog_runs(sizes, Path(tmp), 5 if args.quick else 21, not args.no_postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smallest sizes only (a smoke run)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument(
        "--only",
        choices=["backlog"],
        help="measure one part only, print it and write benchmarks/results-partial.json (BENCHMARKS.md untouched)",
    )
    args = parser.parse_args()
    if args.only == "backlog":
        partial = _backlog_only(args)
        (ROOT / "benchmarks" / "results-partial.json").write_text(json.dumps(partial, indent=2))
        print(json.dumps(partial, indent=2))
        return
    sizes = [1000] if args.quick else [1000, 10_000, 100_000]
    chunk_sizes = [100] if args.quick else [100, 1000, 10_000]
    repeat = 5 if args.quick else 21
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": {
            p: version(p)
            for p in (
                "sqlalchemy",
                "chromadb",
                "streamlit",
                "langchain-core",
                "onnxruntime",
                "xllamacpp",
                "scikit-learn",
            )
        },
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("classifier…", flush=True)
        results["classifier"] = bench_classifier(repeat)
        from assistant.embeddings import get_embedder
        from improvement.evaluation import evaluate

        dev = ROOT.parent / "shared" / "eval" / "classify_dev.jsonl"
        results["classifier_evaluation"] = evaluate(
            get_embedder(),
            dev_path=dev if dev.exists() else None,
            cache_dir=Path(os.environ["BACKLOG_CLASSIFIER_CACHE"]),
        )
        results.update(_backlog_runs(sizes, work, repeat, not args.no_postgres))
        results["knowledge"] = []
        for chunks in chunk_sizes:
            print(f"knowledge {chunks}…", flush=True)
            results["knowledge"].append(bench_knowledge(chunks, work, repeat))
        print("retrieval quality…", flush=True)
        results["retrieval_quality"] = bench_retrieval_quality()
        if not args.no_llm:
            print("ask with the local model…", flush=True)
            results["ask_local"] = bench_ask(3 if args.quick else 6)
        print("app pages…", flush=True)
        results["pages"] = bench_pages(work, sizes[-1])
        results["bench_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    json_path = ROOT / "benchmarks" / ("results-quick.json" if args.quick else "results.json")
    json_path.write_text(json.dumps(results, indent=2))
    if not args.quick:
        from benchmarks.report import write_markdown

        write_markdown(results, Path(args.output))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
