"""The local model runtime: speed by thread count, first token, memory, and whether answers loop.

    python -m benchmarks.local_model [--install-seconds N]

Starts llama.cpp's server (xllamacpp) on the packaged SmolLM2 GGUF as the app does, once per thread
count, and sends it the assistant's real prompts for a set of questions. Writes
benchmarks/results-local-model.json and the "Local model" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.report import replace_section

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How do customer-centric leaders pre-empt problems for all customers?",
    "Why should we report customer experience in money rather than scores?",
    "How do we get employees to care about customers they never meet?",
    "What is kaizen?",
    "What is the difference between kaikaku and kakushin?",
    "How should leaders use customer stories?",
    "What does raising the temperature mean for a leadership team?",
    "How often should we review customer feedback?",
    "Why look at other industries for ideas?",
    "What is the reason behind the reason?",
    "How do we celebrate the people who act on customer problems?",
    "Should we trust what customers tell us about the cause of a problem?",
]
MAX_TOKENS = 220


def _messages(question: str) -> list[dict[str, str]]:
    from assistant.chain import Assistant
    from improvement.wiring import make_backend

    backend = make_backend()
    prepared = Assistant(backend.knowledge, backend.playbook, llm_spec="local").prepare(question)
    return [{"role": role, "content": content} for role, content in prepared.messages]


def _repeats_a_sentence(text: str) -> bool:
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 20]
    return len(sentences) != len(set(sentences))


def _ask(url: str, messages: list[dict[str, str]], sampling: dict[str, Any]) -> dict[str, Any]:
    body = {"messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0.3, "top_p": 0.9, "stream": True}
    body.update(sampling)
    start = time.perf_counter()
    first = None
    text: list[str] = []
    timings: dict[str, Any] = {}
    finish = ""
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            timings = chunk.get("timings") or timings
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece and first is None:
                    first = time.perf_counter() - start
                text.append(piece)
                finish = choice.get("finish_reason") or finish
    answer = "".join(text)
    return {
        "first_token_ms": round((first or 0) * 1000, 1),
        "total_ms": round((time.perf_counter() - start) * 1000, 1),
        "tokens_per_s": round(float(timings.get("predicted_per_second", 0)), 1),
        "prompt_tokens_per_s": round(float(timings.get("prompt_per_second", 0)), 1),
        "hit_cap": finish == "length",
        "repeats": _repeats_a_sentence(answer),
        "cites": bool(re.search(r"\[\d\]", answer)),
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _busy_core() -> subprocess.Popen[bytes]:
    """One core kept busy, as the app's own work (embeddings, pages) keeps it while the model answers."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(threads: list[int]) -> dict[str, Any]:
    from assistant.local_server import ServerConfig, server_for
    from assistant.models import SMALL_MODEL_SAMPLING, packaged_model_path

    os.environ.setdefault("BACKLOG_DATA_DIR", tempfile.mkdtemp())
    os.environ["BACKLOG_LLM"] = "none"  # prompts only; the servers below are ours
    prompts = [_messages(q) for q in QUESTIONS]
    results: dict[str, Any] = {"questions": len(QUESTIONS), "max_tokens": MAX_TOKENS, "threads": {}}
    for count in threads:
        server = server_for(ServerConfig(model_path=packaged_model_path(), threads=count))
        started = time.perf_counter()
        url = server.url()
        start_ms = round((time.perf_counter() - started) * 1000, 1)
        _ask(url, prompts[0], SMALL_MODEL_SAMPLING)  # warm-up
        runs = [_ask(url, p, SMALL_MODEL_SAMPLING) for p in prompts]
        busy = _busy_core()
        try:
            loaded = [_ask(url, p, SMALL_MODEL_SAMPLING) for p in prompts[:4]]
        finally:
            busy.kill()
            busy.wait()
        assert server.pid is not None
        results["threads"][str(count)] = {
            "loaded_tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in loaded),
            "loaded_tokens_per_s_min": min(r["tokens_per_s"] for r in loaded),
            "server_start_ms": start_ms,
            "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in runs),
            "tokens_per_s_min": min(r["tokens_per_s"] for r in runs),
            "prompt_tokens_per_s_median": statistics.median(r["prompt_tokens_per_s"] for r in runs),
            "first_token_ms_median": statistics.median(r["first_token_ms"] for r in runs),
            "answer_ms_median": statistics.median(r["total_ms"] for r in runs),
            "server_peak_rss_mb": _peak_rss_mb(server.pid),
        }
        if count == threads[0]:
            plain = [_ask(url, p, {}) for p in prompts]
            results["looping"] = {
                "without_anti_repeat_sampling": {
                    "hit_cap": sum(r["hit_cap"] for r in plain),
                    "repeats_a_sentence": sum(r["repeats"] for r in plain),
                    "cites_a_source": sum(r["cites"] for r in plain),
                },
                "with_anti_repeat_sampling": {
                    "hit_cap": sum(r["hit_cap"] for r in runs),
                    "repeats_a_sentence": sum(r["repeats"] for r in runs),
                    "cites_a_source": sum(r["cites"] for r in runs),
                },
            }
        server.stop()
    return results


def _n(value: float) -> str:
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def markdown(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Local model runtime (SmolLM2-135M-Instruct Q4_1 in llama.cpp's server, xllamacpp wheel)",
        "",
        "`python -m benchmarks.local_model`. The model runs in a supervised child process on loopback; "
        f"{results['questions']} assistant questions with their real prompts (4 passages), up to "
        f"{results['max_tokens']} tokens each, after one warm-up.",
        "",
        "| threads | generation tokens/s (median, min) | the same with the other core busy | prompt tokens/s "
        "| first token (ms) | whole answer (ms) | server start (ms) | server peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, t in results["threads"].items():
        lines.append(
            f"| {count} | {_n(t['tokens_per_s_median'])} ({_n(t['tokens_per_s_min'])}) "
            f"| {_n(t['loaded_tokens_per_s_median'])} ({_n(t['loaded_tokens_per_s_min'])}) "
            f"| {_n(t['prompt_tokens_per_s_median'])} "
            f"| {_n(t['first_token_ms_median'])} | {_n(t['answer_ms_median'])} | {_n(t['server_start_ms'])} "
            f"| {_n(t['server_peak_rss_mb'])} |"
        )
    t = results["threads"]
    if "1" in t and "2" in t:
        lines += [
            "",
            f"Default `BACKLOG_LOCAL_THREADS=1`: two threads are faster only while the other core is idle "
            f"({_n(t['2']['tokens_per_s_median'])} against {_n(t['1']['tokens_per_s_median'])} tokens/s) "
            "and collapse to "
            f"{_n(t['2']['loaded_tokens_per_s_median'])} tokens/s when it is busy, as it is whenever the app embeds, "
            f"classifies or renders (one thread keeps {_n(t['1']['loaded_tokens_per_s_median'])}).",
        ]
    loop = results["looping"]
    lines += [
        "",
        f"Answers out of {results['questions']} (1 thread): with the product's sampling (DRY + repeat penalty) "
        f"{loop['with_anti_repeat_sampling']['repeats_a_sentence']} repeat a sentence and "
        f"{loop['with_anti_repeat_sampling']['hit_cap']} hit the token cap; with llama.cpp's defaults "
        f"{loop['without_anti_repeat_sampling']['repeats_a_sentence']} and "
        f"{loop['without_anti_repeat_sampling']['hit_cap']}. Answers that cite a source: "
        f"{loop['with_anti_repeat_sampling']['cites_a_source']} (the others are not shown; the answer is built "
        "from the passages instead).",
    ]
    if results.get("install_seconds"):
        lines += [
            "",
            f"Install (the README's test command: fresh venv, empty pip cache, `CC=false CXX=false`, so nothing "
            f"can compile): {results['install_seconds']} s on this machine.",
        ]
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--install-seconds", type=float, default=None, help="measured by the README install")
    parser.add_argument("--report-only", action="store_true", help="rewrite BENCHMARKS.md from the saved results")
    args = parser.parse_args()
    saved = ROOT / "benchmarks" / "results-local-model.json"
    if args.report_only:
        replace_section(ROOT / "BENCHMARKS.md", "local-model", markdown(json.loads(saved.read_text())))
        return
    results = run([int(t) for t in args.threads.split(",")])
    if args.install_seconds:
        results["install_seconds"] = args.install_seconds
    (ROOT / "benchmarks" / "results-local-model.json").write_text(json.dumps(results, indent=2))
    replace_section(ROOT / "BENCHMARKS.md", "local-model", markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
