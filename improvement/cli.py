"""The ``backlog`` command. Every subcommand takes ``--json``; errors are one line on stderr.

Exit codes: 0 success, 2 bad input (the user can fix it), 1 anything else. ``--debug`` shows the
traceback. Heavy modules are imported inside the commands that need them, so ``backlog list`` and
``backlog review`` never import Streamlit, LangChain or Chroma.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from improvement.domain import DomainError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(DomainError):
    pass


def _emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        human()


def _backend(args: argparse.Namespace) -> Any:
    from improvement.wiring import make_backend

    return make_backend()


def _actor(args: argparse.Namespace) -> str:
    from improvement.domain import clean_line

    name = getattr(args, "actor", None) or os.environ.get("BACKLOG_USER") or os.environ.get("USER") or "cli"
    return clean_line(name, field="actor", required=False) or "cli"  # one line: it cannot forge a history line


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    from improvement.domain import printable

    rows = [[printable(c) for c in row] for row in rows]  # stored text can never forge a row
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


# Backlog ------------------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    raw = {
        "description": args.text,
        "title": args.title,
        "quarter": args.quarter,
        "owner": args.owner,
        "kind": args.kind,
        "customer_story": args.story,
        "touchpoint": args.touchpoint,
        "segment": args.segment,
        "industry": args.industry,
        "customers_affected": args.customers,
        "value_at_risk": args.value,
        "currency": args.currency,
        "evidence": args.evidence,
        "root_cause": args.root_cause,
        "reporter": args.reporter,
    }
    from improvement.validation import validate_problem

    new = validate_problem({k: v for k, v in raw.items() if v is not None})  # before loading any model
    if args.to_item is not None:
        return _add_report(args, new)
    from improvement.classification import percent

    result = _backend(args).backlog().log_problem(new, actor=_actor(args))
    data = {
        "problem_id": result.problem_id,
        "improvement_id": result.improvement_id,
        "kind": result.kind,
        "confidence": round(result.confidence, 4),
        "needs_review": result.needs_review,
        "rationale": result.rationale,
        "similar": [s.__dict__ for s in result.similar],
        "suggestions": asdict(result.suggestions),
        "warnings": result.warnings,
    }

    def human() -> None:
        print(
            f"Logged problem {result.problem_id} as backlog item {result.improvement_id}: {result.kind} "
            f"({percent(result.confidence)}{', needs review' if result.needs_review else ''})"
        )
        print(result.rationale)
        for s in result.similar:
            print(f"  similar: item {s.improvement_id} '{s.title}' ({s.similarity:.2f})")
        options = result.suggestions.fix_options
        if not options:
            print("  no proactive-fix pattern fits this problem well enough to suggest one")
        for number, option in enumerate(options, 1):
            print(f"  fix option {number}: {option.title}: {option.fix}")
            print(f"      reach them first: {option.proactive}")
        for number, idea in enumerate(result.suggestions.idea_options, 1):
            print(f"  idea {number}: {idea.text}")
        if options:
            print(
                f"  (option 1 is saved on the item; choose another with `backlog edit {result.improvement_id} "
                "--proposed-fix ...`)"
            )
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)

    _emit(args, data, human)
    return EXIT_OK


def _add_report(args: argparse.Namespace, new: Any) -> int:
    """`add --to-item ID`: the report joins an item that already tracks the same problem."""
    from improvement.domain import DomainError

    given = [
        flag for flag, value in (("--kind", args.kind), ("--quarter", args.quarter), ("--owner", args.owner)) if value
    ]
    if given:
        raise DomainError(f"{', '.join(given)} describe a new item; leave them out with --to-item", field="to_item")
    result = _backend(args).backlog().add_report(args.to_item, new, actor=_actor(args))
    item = result.item
    data = {
        "problem_id": result.problem_id,
        "improvement_id": item.id,
        "kind": item.kind.value,
        "confidence": round(item.confidence, 4),
        "report_count": item.report_count,
        "warnings": result.warnings,
    }

    def human() -> None:
        print(
            f"Added problem {result.problem_id} to backlog item {item.id} '{item.title}' ({item.report_count} reports)"
        )
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)

    _emit(args, data, human)
    return EXIT_OK


def _filter(args: argparse.Namespace) -> Any:
    from improvement import domain
    from improvement.models import ItemFilter

    return ItemFilter(
        kinds=[domain.parse_kind(k).value for k in args.kind or []],
        statuses=[domain.parse_status(s).value for s in args.status or []],
        quarters=[domain.parse_quarter(q) for q in args.quarter or []],
        owners=args.owner or [],
        needs_review=True if args.needs_review else None,
        text=(args.search or "").strip(),
    )


def cmd_list(args: argparse.Namespace) -> int:
    flt = _filter(args)
    page = (
        _backend(args)
        .backlog(with_models=False)
        .list_items(flt, sort=args.sort, limit=args.limit, offset=args.offset, with_total=not args.json)
    )

    def human() -> None:
        _table(
            [
                (
                    i.id,
                    i.kind,
                    i.status,
                    i.quarter,
                    f"{i.value_at_risk:,.0f} {i.currency}",
                    i.owner or "-",
                    ("! " if i.needs_review else "") + i.title[:60],
                )
                for i in page.items
            ],
            ["id", "kind", "status", "quarter", "value at risk", "owner", "title"],
        )
        print(f"{len(page.items)} of {page.total:,}{'' if page.total_is_exact else '+'} item(s)")

    _emit(args, [i.as_json() for i in page.items], human)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    detail = _backend(args).backlog(with_models=False).get_item(args.id)
    data = {
        **detail.item.as_json(),
        "rationale": detail.rationale,
        "classifier": detail.classifier,  # which classifier and model version decided the kind first
        "proposed_fix": detail.proposed_fix,
        "proactive_action": detail.proactive_action,
        "cross_industry_idea": detail.cross_industry_idea,
        "target": detail.target,
        "outcome": detail.outcome,
        "problems": [p.model_dump(mode="json") for p in detail.problems],
        "history": [c.model_dump(mode="json") for c in detail.history],
    }

    def human() -> None:
        from improvement.domain import printable as pr  # stored text can never forge a line

        item = detail.item
        print(
            f"#{item.id} {pr(item.title)}\n{item.kind} ({item.kind_decided_by}), {item.status}, {item.quarter}, "
            f"owner {pr(item.owner or '-')}, version {item.version}\n{pr(detail.rationale)}"
        )
        for p in detail.problems:
            print(f"  problem {p.id}: {pr(p.description[:100])}")
        for c in detail.history:
            print(
                f"  {c.changed_at:%Y-%m-%d %H:%M} {pr(c.changed_by)}: {pr(c.field)} {pr(repr(c.old_value))} -> "
                f"{pr(repr(c.new_value))}"
            )

    _emit(args, data, human)
    return EXIT_OK


def cmd_edit(args: argparse.Namespace) -> int:
    changes = {
        k: v
        for k, v in {
            "title": args.title,
            "owner": args.owner,
            "quarter": args.quarter,
            "effort": args.effort,
            "impact": args.impact,
            "target": args.target,
            "outcome": args.outcome,
            "proposed_fix": args.proposed_fix,
            "urgency": args.urgency,
            "risk_reduction": args.risk_reduction,
            "reach": args.reach,
            "rice_confidence": args.rice_confidence,
            "value_protected": args.value_protected,
        }.items()
        if v is not None
    }
    if not changes and not args.status and not args.kind:
        raise BadInput("nothing to change: give at least one of --status, --kind, --owner, --quarter, ...")
    # One use case, one transaction: a refused status move writes nothing, not even the other fields.
    item = (
        _backend(args)
        .backlog(with_models=False)
        .update_item(
            args.id,
            changes,
            status=args.status,
            kind=args.kind,
            actor=_actor(args),
            expected_version=args.expected_version,
        )
    )
    _emit(args, item.as_json(), lambda: print(f"item {item.id} saved (version {item.version})"))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    item = _backend(args).backlog(with_models=True).merge(args.target, args.sources, actor=_actor(args))
    _emit(args, item.as_json(), lambda: print(f"merged into item {item.id}: {item.report_count} report(s)"))
    return EXIT_OK


def cmd_unmerge(args: argparse.Namespace) -> int:
    item = _backend(args).backlog(with_models=True).unmerge(args.id, actor=_actor(args))
    _emit(args, item.as_json(), lambda: print(f"item {item.id} split back out: {item.report_count} report(s)"))
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    from improvement.delivery import loop_metrics
    from improvement.review import quarterly_review

    backend = _backend(args)
    review = quarterly_review(backend.sessions, args.quarter)
    loop = loop_metrics(backend.sessions, quarter=review.quarter, hours=backend.settings.triage_hours)

    def human() -> None:
        print(
            f"Quarterly review {review.quarter}: {review.total_items} item(s), "
            f"value at risk {review.value_at_risk_text()}"
        )
        for kind, n in review.counts_by_kind.items():
            print(
                f"  {kind:9} {n:6}  ({review.balance[kind]:.0%}, {review.change_by_kind[kind]:+d} vs "
                f"{review.previous_quarter})  value at risk {review.value_at_risk_by_kind[kind]:,.0f}"
            )
        print("  status: " + ", ".join(f"{s} {n}" for s, n in review.counts_by_status.items()))
        print(f"  needs review: {review.needs_review_count}")
        if loop["share_heard_back"] is not None:
            print(
                f"  heard back within {loop['promise_hours']:g} h: {loop['share_heard_back']:.0%} "
                f"({loop['heard_back_within_promise']} of {loop['with_known_answer_time']})"
            )
        target = review.target
        assert target is not None
        actual = review.actual_mix[target.basis]
        print(
            f"  target (share of {target.basis}{', a starting point' if target.is_default else ''}): "
            + ", ".join(
                f"{k} {target.shares[k]}% (actual {actual[k]:.0%}, gap {review.gap[k]:+.0f} pts)" for k in actual
            )
        )

    data = review.as_json()
    data["closing_the_loop"] = loop
    _emit(args, data, human)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from improvement.report import review_csv, review_html, review_pdf
    from improvement.review import quarterly_review

    sessions = _backend(args).sessions
    path = Path(args.output)
    if not path.parent.exists():
        raise BadInput(f"folder {str(path.parent)!r} does not exist")
    if args.format == "csv":
        path.write_text(review_csv(sessions, args.quarter), encoding="utf-8")
    else:
        review = quarterly_review(sessions, args.quarter)
        if args.format == "pdf":
            path.write_bytes(review_pdf(review))
        else:
            path.write_text(review_html(review), encoding="utf-8")
    data = {"quarter": args.quarter.upper(), "format": args.format, "path": str(path), "bytes": path.stat().st_size}
    _emit(args, data, lambda: print(f"wrote {path} ({data['bytes']:,} bytes)"))
    return EXIT_OK


def cmd_target(args: argparse.Namespace) -> int:
    from improvement.review import TargetMix, quarterly_review, set_target

    sessions = _backend(args).sessions
    shares = {"kaizen": args.kaizen, "kaikaku": args.kaikaku, "kakushin": args.kakushin}
    target: TargetMix | None
    if any(v is not None for v in shares.values()) or args.basis:
        missing = [k for k, v in shares.items() if v is None]
        if missing:
            raise BadInput(f"give all three shares; missing --{', --'.join(missing)}")
        target = set_target(sessions, args.quarter, args.basis or "items", shares, actor=_actor(args))
    else:
        target = quarterly_review(sessions, args.quarter, top=0).target
    assert target is not None
    note = " (a starting point: no target set yet)" if target.is_default else f" (set by {target.set_by})"
    _emit(
        args,
        target.as_json(),
        lambda: print(
            f"{target.quarter} target, share of {target.basis}: kaizen {target.shares['kaizen']}%, kaikaku "
            f"{target.shares['kaikaku']}%, kakushin {target.shares['kakushin']}%{note}"
        ),
    )
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    from improvement.prioritisation import METHOD, WEIGHT_NAMES, formula_text
    from improvement.review import get_weights, set_weights

    sessions = _backend(args).sessions
    rescored = None
    if args.weights:
        if not args.kind:
            raise BadInput("say which formula: --kind kaizen, kaikaku or kakushin")
        pairs = {}
        for pair in args.weights:
            name, sep, value = pair.partition("=")
            if not sep:
                raise BadInput(f"write a weight as NAME=NUMBER, got {pair!r}")
            pairs[name.strip()] = value
        rescored = set_weights(sessions, args.kind, pairs, actor=_actor(args))
    weights = get_weights(sessions)
    data = {
        kind.value: {"method": METHOD[kind], "weights": weights.of(kind), "formula": formula_text(kind, weights)}
        for kind in WEIGHT_NAMES
    }
    if rescored is not None:
        data["rescored"] = rescored  # type: ignore[assignment]

    def human() -> None:
        for kind, info in data.items():
            if kind != "rescored":
                print(f"{kind:9} {info['formula']}")  # type: ignore[index]
        if rescored is not None:
            print(f"{rescored:,} {args.kind} item(s) rescored")

    _emit(args, data, human)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from improvement.transfer import import_file, import_summary

    backend = _backend(args)
    batch_rows = backend.settings.import_batch_rows

    def progress(done: int, total: int) -> None:
        if total > batch_rows:  # a file of one batch is quiet; a long import says how far it is (stderr)
            print(f"import: {done:,} of {total:,} reports done", file=sys.stderr, flush=True)

    result = import_file(
        backend.backlog(with_models=True),
        backend.sessions,
        Path(args.file),
        actor=_actor(args),
        batch_rows=batch_rows,
        progress=progress,
    )
    _emit(args, result, lambda: print(import_summary(result)))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from improvement.transfer import export_to

    backend = _backend(args)
    if args.output:
        target = Path(args.output)
        tmp = target.with_name(target.name + ".partial")
        with tmp.open("w", encoding="utf-8", newline="") as out:
            count = export_to(backend.sessions, args.format, out)
        tmp.replace(target)
        print(
            json.dumps({"rows": count, "path": str(target)}) if args.json else f"wrote {count} row(s) to {target}",
            file=sys.stderr if not args.json else sys.stdout,
        )
    else:
        export_to(backend.sessions, args.format, sys.stdout)
    return EXIT_OK


def cmd_export_labels(args: argparse.Namespace) -> int:
    from improvement.transfer import export_labels

    for row in export_labels(_backend(args).sessions):
        print(json.dumps(row, ensure_ascii=False))
    return EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    """Refit the classifier on the team's decisions (used only if at least as good), list or restore versions."""
    models = _backend(args).classifier_models()
    if args.restore:
        previous = models.restore(args.restore, actor=_actor(args))
        data: Any = {"active": args.restore.strip(), "previous": previous}
        _emit(args, data, lambda: print(f"model {data['active']} is active again (was {previous})"))
        return EXIT_OK
    if args.list:
        active = models.active_version()
        rows = [{"version": "shipped", "active": active == "shipped", "accepted": True, **models.shipped_evaluation()}]
        rows += [{**asdict(v), "active": v.version == active} for v in models.versions()]
        _emit(
            args,
            rows,
            lambda: _table(
                [
                    (
                        ("* " if r["active"] else "  ") + r["version"],
                        r.get("created_at", ""),
                        r.get("created_by", ""),
                        (r.get("evaluation") or r).get("heldout", {}).get("macro_f1", "-"),
                        "yes" if r["accepted"] else "no",
                    )
                    for r in rows
                ],
                ["version", "created", "by", "held-out macro-F1", "accepted"],
            ),
        )
        return EXIT_OK
    report = models.retrain(actor=_actor(args))
    _emit(args, report.as_json(), lambda: print(f"{report.version}: {report.reason} Active model: {report.active}."))
    return EXIT_OK


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from improvement.demo import seed_demo

    backend = _backend(args)
    result = seed_demo(backend.sessions, count=args.count, seed=args.seed)
    if args.index:
        from assistant.doctor import index_missing_problems

        # So that logging a problem finds the demo's similar ones, and `backlog doctor` finds no drift.
        result["indexed_for_similar_problems"] = index_missing_problems(backend)
    _emit(args, result, lambda: print(f"added {result['items']} demo item(s)"))
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from db.engine import current_revision

    backend = _backend(args)
    revision = current_revision(backend.engine)  # touching the engine applies migrations
    url = backend.engine.url.render_as_string(hide_password=True)
    _emit(args, {"revision": revision, "database": url}, lambda: print(f"{url} is at revision {revision}"))
    return EXIT_OK


# Classification -----------------------------------------------------------------------------------


def _read_classify_input(stream: Any) -> tuple[list[tuple[int, str]], list[str]]:
    from improvement.domain import clean_text

    lines, errors = [], []
    for number, line in enumerate(stream, start=1):
        text = line.rstrip("\n")
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
                if isinstance(obj, dict):
                    text = obj.get("text", "")
                    if not isinstance(text, str):
                        errors.append(f"line {number}: the 'text' field must be a string")
                        lines.append((number, ""))
                        continue
            except json.JSONDecodeError:
                pass  # not JSON after all: the line is plain text
        try:
            lines.append((number, clean_text(text, field="text", required=True)))
        except DomainError as error:
            errors.append(f"line {number}: {error}")
            lines.append((number, ""))
    return lines, errors


def cmd_classify(args: argparse.Namespace) -> int:
    lines, errors = _read_classify_input(sys.stdin)
    valid = [(n, t) for n, t in lines if t]
    results = _backend(args).classifier().classify([t for _, t in valid]) if valid else []
    by_line = {n: r for (n, _), r in zip(valid, results, strict=True)}
    for number, _text in lines:
        result = by_line.get(number)
        if result is None:
            out: dict[str, Any] = {"line": number, "error": next(e for e in errors if e.startswith(f"line {number}:"))}
        else:
            out = result.as_json()
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        elif result is not None:
            print(f"{result.kind}\t{result.confidence:.2f}\t{'needs review' if result.needs_review else ''}")
        else:
            print("error\t\t" + out["error"])
    if not lines:
        raise BadInput("no input: give one problem per line on standard input")
    if errors:
        print(
            f"backlog: {len(errors)} line(s) could not be classified: " + ", ".join(e.split(":")[0] for e in errors),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_eval_classifier(args: argparse.Namespace) -> int:
    from assistant.embeddings import get_embedder
    from improvement.evaluation import evaluate

    backend = _backend(args)
    dev = Path(args.dev) if args.dev else None
    report = evaluate(get_embedder(), dev_path=dev, cache_dir=backend.settings.classifier_cache_dir)

    def human() -> None:
        cv = report["cross_validation"]
        print(f"{report['examples']} labelled examples, 5-fold CV x{cv['repeats']}: macro-F1 {cv['macro_f1_mean']}")
        print(
            f"calibration: ECE {report['calibration']['expected_calibration_error']}, review threshold "
            f"{report['calibration']['needs_review_threshold']}"
        )
        if "dev_set" in report:
            print(f"dev set: macro-F1 {report['dev_set']['macro_f1']}, accuracy {report['dev_set']['accuracy']}")

    _emit(args, report, human)
    return EXIT_OK


def cmd_trial_model(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if backend.settings.llm.split(":", 1)[0] == "none":
        raise DomainError("BACKLOG_LLM=none: there is no chat model to trial")
    if args.again:
        from improvement.model_trial import TrialCache

        TrialCache(backend.settings.cache_dir, backend.trial_key()).path.unlink(missing_ok=True)
    print(f"backlog: trialling {backend.describe_model()} on held-out labelled problems…", file=sys.stderr)
    verdict = backend.model_trial(backend.llm_classifier(backend.offline_classifier()), background=False)
    assert verdict is not None  # a foreground trial always ends with a verdict
    data = {**asdict(verdict), "trusted": verdict.trusted, "explanation": verdict.explain()}
    _emit(args, data, lambda: print(verdict.explain()))
    return EXIT_OK


# Assistant ----------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    report = _backend(args).knowledge.ingest_paths([Path(p) for p in args.paths])
    data = {
        "documents": report.documents,
        "chunks": report.chunks,
        "failed": report.failed,
        "replaced": report.replaced,
    }

    def human() -> None:
        print(f"ingested {report.documents} document(s), {report.chunks} chunk(s)")
        for source in report.replaced:
            print(f"replaced the earlier copy of {source}")
        for failure in report.failed:
            print(f"backlog: {failure['path']}: {failure['error']}", file=sys.stderr)

    _emit(args, data, human)
    return EXIT_BAD_INPUT if report.failed else EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from improvement.domain import clean_text

    query = clean_text(args.query, field="query", required=True, limit=2000)
    hits = _backend(args).knowledge.search(query, k=args.k)
    data = [{"source": h.source, "title": h.title, "text": h.text, "score": round(h.score, 4)} for h in hits]

    def human() -> None:
        for i, h in enumerate(hits, 1):
            print(f"[{i}] {h.title} ({h.source}) score {h.score:.3f}\n    {h.text[:200]}")

    _emit(args, data, human)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from improvement.domain import clean_text

    question = clean_text(args.question, field="question", required=not args.problem_id, limit=4000)
    backend = _backend(args)
    problem, kind = None, None
    if args.problem_id:
        backlog = backend.backlog(with_models=False)
        problem = backlog.get_problem(args.problem_id)
        kind = backlog.get_item(problem.improvement_id).item.kind  # the person's decision if they made one
    from assistant.chain import Assistant

    assistant = Assistant.from_backend(backend)
    if args.json:
        answer = assistant.ask(question, problem=problem, kind=kind)
        _emit(args, answer.as_json(), lambda: None)
        return EXIT_OK
    answer = _stream_answer(assistant, question, problem, kind)
    for i, c in enumerate(answer.citations, 1):
        print(f"  [{i}] {c.title} ({c.source})")
    for fix in answer.proactive_fixes:
        print(f"  proactive fix: {fix['title']}: {fix['action']}")
    for idea in answer.cross_industry_ideas:
        print(f"  idea from {idea['industry']}: {idea['idea']}")
    print(f"  (model: {answer.model})")
    return EXIT_OK


def _stream_answer(assistant: Any, question: str, problem: Any, kind: str | None = None) -> Any:
    """Print the model's words as they come (a small model takes seconds), then what stands."""
    stream = assistant.answer_stream(question, problem, kind)
    pieces: list[str] = []
    for piece in stream:
        pieces.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    answer = stream.answer
    notice = answer.notice
    if pieces:
        sys.stdout.write("\n")
    if notice:
        print(f"({notice}: the answer comes from retrieval and the playbook.)", file=sys.stderr)
    if answer.grounding == "retrieval" and "".join(pieces).strip() != answer.answer.strip():
        if answer.dropped:
            print(f"\n({answer.dropped} From the articles instead:)")
        print(answer.answer)
    return answer


# Operations ---------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from assistant.doctor import check

    report = check(_backend(args), repair=args.repair)
    _emit(args, report, lambda: print(json.dumps(report, indent=2)))
    return EXIT_OK if report["ok"] or args.repair else EXIT_FAILURE


def cmd_backup(args: argparse.Namespace) -> int:
    from improvement.backup import backup

    result = backup(_backend(args), Path(args.path))
    _emit(args, result, lambda: print(f"backup written to {result['path']}"))
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from improvement.backup import restore

    result = restore(_backend(args), Path(args.path))
    _emit(
        args,
        result,
        lambda: print(
            f"restored {result['items']} item(s) from {args.path}; the previous state is kept in "
            f"{result['previous_state']} (restore that folder to undo)"
        ),
    )
    return EXIT_OK


# Closing the loop ------------------------------------------------------------------------------------


def cmd_deliver(args: argparse.Namespace) -> int:
    backend = _backend(args)
    deliverer = backend.deliverer()
    if args.once:
        from improvement.delivery import remind_untriaged

        remind_untriaged(backend.sessions, hours=backend.settings.triage_hours)
        report = deliverer.drain()
        _emit(
            args,
            report.as_json(),
            lambda: print(f"delivered {report.delivered}, failed {report.failed}, still pending {report.pending}"),
        )
        return EXIT_OK if not report.failed else EXIT_FAILURE
    from improvement.delivery import describe_channels

    where = ", ".join(describe_channels(deliverer.channels)) or "nobody (no channel set)"
    print(f"delivering to {where}; Ctrl-C stops", flush=True)
    try:
        deliverer.serve(interval=args.interval, triage_hours=backend.settings.triage_hours)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from improvement.delivery import list_events

    backend = _backend(args)
    if args.action == "replay":
        if not args.id:
            raise BadInput("name the event: backlog events replay EVENT_ID")
        count = backend.deliverer().replay(args.id)
        _emit(args, {"replayed": count}, lambda: print(f"event {args.id}: {count} delivery(ies) will be sent again"))
        return EXIT_OK
    events = list_events(backend.sessions, limit=args.limit)

    def human() -> None:
        for event in events:
            sent = ", ".join(
                f"{d['channel']} {d['target']} {d['status']} ({d['attempts']} tries"
                + (f", {d['last_error']}" if d["last_error"] and d["status"] != "delivered" else "")
                + ")"
                for d in event["deliveries"]
            )
            print(
                f"{event['occurred_at'][:19]}  {event['type']:22} item {event['item_id']}  {event['id']}  "
                f"{sent or 'not planned yet'}"
            )

    _emit(args, events, human)
    return EXIT_OK


def cmd_digest(args: argparse.Namespace) -> int:
    from improvement.delivery import send_digest, weekly_digest

    backend = _backend(args)
    message = weekly_digest(backend.sessions, days=args.days)
    sent = send_digest(backend.deliverer().channels, message) if args.send else 0
    _emit(
        args,
        {"title": message.title, "body": message.body, "sent_to": sent},
        lambda: print(f"{message.title}\n{message.body}" + (f"\n(sent to {sent} channel(s))" if args.send else "")),
    )
    return EXIT_OK


def cmd_mail(args: argparse.Namespace) -> int:
    from improvement.delivery import set_mail

    set_mail(_backend(args).sessions, args.email, enabled=args.setting == "on")
    _emit(args, {"email": args.email, "mail": args.setting}, lambda: print(f"e-mails {args.setting} for {args.email}"))
    return EXIT_OK


# People and roles -------------------------------------------------------------------------------------


def cmd_users(args: argparse.Namespace) -> int:
    """The CLI acts as BACKLOG_USER with an admin's rights: it has direct access to the database anyway."""
    people = _backend(args).people()
    if args.action == "list":
        rows = people.everyone()
        _emit(
            args,
            [{"email": p.email, "name": p.name, "role": p.role, "changed_by": p.role_changed_by} for p in rows],
            lambda: _table(
                [(p.email, p.name, p.role or "(revoked)", p.role_changed_by) for p in rows],
                ["email", "name", "role", "granted by"],
            ),
        )
        return EXIT_OK
    if not args.email:
        raise BadInput(
            f"name the person: backlog users {args.action} EMAIL" + (" ROLE" if args.action == "grant" else "")
        )
    if args.action == "grant":
        if not args.role:
            raise BadInput("name the role: viewer, agent, owner, leader or admin")
        person = people.grant(_actor(args), args.email, args.role)
    else:
        person = people.revoke(_actor(args), args.email)
    _emit(
        args,
        {"email": person.email, "role": person.role},
        lambda: print(f"{person.email}: {person.role or 'access revoked'}"),
    )
    return EXIT_OK


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    common.add_argument("--actor", help="who is making the change (default: $BACKLOG_USER or $USER)")
    parser = argparse.ArgumentParser(
        prog="backlog", description="Improvement Backlog: kaizen, kaikaku, kakushin.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("add", cmd_add, "log a customer problem, classify it and create its backlog item")
    p.add_argument("text", help="what the customer experienced")
    p.add_argument("--title")
    p.add_argument("--quarter", help="e.g. 2026-Q4 (default: the current quarter)")
    p.add_argument("--owner")
    p.add_argument("--kind", help="decide the kind yourself: kaizen, kaikaku or kakushin")
    p.add_argument("--story", help="the customer story: the human version of the data")
    p.add_argument("--touchpoint")
    p.add_argument("--segment")
    p.add_argument("--industry")
    p.add_argument("--customers", help="customers affected")
    p.add_argument("--value", help="value at risk (amount)")
    p.add_argument("--currency", help="ISO code, default EUR")
    p.add_argument("--evidence", help="verified, assumption or unknown")
    p.add_argument("--root-cause", dest="root_cause")
    p.add_argument("--reporter")
    p.add_argument(
        "--to-item",
        dest="to_item",
        type=int,
        metavar="ID",
        help="add this report to an item that already tracks the same problem instead of creating an item",
    )

    p = add("list", cmd_list, "list backlog items")
    p.add_argument("--quarter", action="append")
    p.add_argument("--kind", action="append")
    p.add_argument("--status", action="append")
    p.add_argument("--owner", action="append")
    p.add_argument("--needs-review", action="store_true")
    p.add_argument("--search", help="text in the title or description")
    p.add_argument(
        "--sort", default="priority", choices=["priority", "value_at_risk", "newest", "oldest", "confidence"]
    )
    p.add_argument("--limit", type=_positive, default=50)
    p.add_argument("--offset", type=int, default=0)

    p = add("show", cmd_show, "show one backlog item with its problems and history")
    p.add_argument("id", type=int)

    p = add("edit", cmd_edit, "edit an item, move its status or override its kind")
    p.add_argument("id", type=int)
    for flag in ("title", "owner", "quarter", "effort", "impact", "target", "outcome", "status", "kind"):
        p.add_argument(f"--{flag}")
    p.add_argument("--proposed-fix", dest="proposed_fix")
    p.add_argument("--urgency", help="WSJF input for kaikaku: time criticality 1-5")
    p.add_argument("--risk-reduction", dest="risk_reduction", help="WSJF input for kaikaku: 1-5")
    p.add_argument("--reach", help="RICE input for kakushin: customers reached (default: customers affected)")
    p.add_argument("--rice-confidence", dest="rice_confidence", help="RICE input for kakushin: 0-100 percent")
    p.add_argument("--value-protected", dest="value_protected", help="money the outcome protected")
    p.add_argument("--expected-version", type=int, help="refuse the edit if someone saved a newer version")

    p = add("merge", cmd_merge, "merge duplicate items into one, keeping every report")
    p.add_argument("target", type=int)
    p.add_argument("sources", type=int, nargs="+")

    p = add("unmerge", cmd_unmerge, "split a merged item back out, with the reports it brought")
    p.add_argument("id", type=int, help="the item that was merged into another")

    p = add("review", cmd_review, "the quarterly innovation backlog review")
    p.add_argument("--quarter", required=True)

    p = add("report", cmd_report, "the printable quarterly review as PDF or HTML")
    p.add_argument("--quarter", required=True)
    p.add_argument("--format", choices=["pdf", "html", "csv"], default="pdf")
    p.add_argument("--output", "-o", required=True, help="file to write")

    p = add("target", cmd_target, "show or set a quarter's target mix of kaizen, kaikaku and kakushin")
    p.add_argument("--quarter", required=True)
    p.add_argument("--basis", choices=["items", "effort", "value"], help="what the shares are of (default items)")
    p.add_argument("--kaizen", help="percent")
    p.add_argument("--kaikaku", help="percent")
    p.add_argument("--kakushin", help="percent")

    p = add("weights", cmd_weights, "show or set the weights of a kind's priority formula (rescores its items)")
    p.add_argument("--kind", help="kaizen (quick win), kaikaku (WSJF) or kakushin (RICE)")
    p.add_argument("weights", nargs="*", metavar="NAME=WEIGHT", help="e.g. reach=2 confidence=1")

    p = add("import", cmd_import, "import problems from a CSV or JSON file (checked first; batches; no duplicates)")
    p.add_argument("file")

    p = add("export", cmd_export, "export the backlog as CSV or JSON")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")

    add("export-labels", cmd_export_labels, "kinds decided by people, as JSON lines of labelled examples")

    p = add("seed-demo", cmd_seed_demo, "fill the database with realistic demo problems")
    p.add_argument("--count", type=_positive, default=500)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--no-index",
        dest="index",
        action="store_false",
        help="skip adding the demo problems to the similar-problem index (faster for very large demos)",
    )

    p = add("db", cmd_db, "database maintenance: `backlog db upgrade` applies migrations")
    p.add_argument("action", choices=["upgrade", "current"])

    add("classify", cmd_classify, "classify problems read from standard input, one per line")
    p = add("eval-classifier", cmd_eval_classifier, "cross-validated evaluation of the offline classifier")
    p.add_argument("--dev", help="a held-out JSONL file with text and label, scored once at the end")

    p = add("retrain", cmd_retrain, "refit the classifier on the team's decisions; used only if at least as good")
    p.add_argument("--restore", metavar="VERSION", help="make an earlier model version (or 'shipped') active again")
    p.add_argument("--list", action="store_true", help="list the model versions and their evaluations")

    p = add("trial-model", cmd_trial_model, "trial the chat model as a classifier against the offline one")
    p.add_argument("--again", action="store_true", help="forget the cached verdict and trial it again")

    p = add("ingest", cmd_ingest, "add articles (.txt, .md, .html, .pdf or folders) to the knowledge base")
    p.add_argument("paths", nargs="+")
    p = add("search", cmd_search, "search the knowledge base")
    p.add_argument("query")
    p.add_argument("--k", type=_positive, default=5)
    p = add("ask", cmd_ask, "ask the assistant; cites its sources")
    p.add_argument("question", nargs="?", default="")
    p.add_argument("--problem-id", type=int)

    p = add("users", cmd_users, "people and roles: `users list`, `users grant EMAIL ROLE`, `users revoke EMAIL`")
    p.add_argument("action", choices=["list", "grant", "revoke"])
    p.add_argument("email", nargs="?")
    p.add_argument("role", nargs="?")

    p = add("deliver", cmd_deliver, "deliver due events to webhooks, team channels and e-mail")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between rounds (default 5)")
    p = add("events", cmd_events, "the outbox: `events list`, `events replay EVENT_ID`")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("id", nargs="?")
    p.add_argument("--limit", type=_positive, default=50)
    p = add("digest", cmd_digest, "the items done this week, their outcomes and who did them")
    p.add_argument("--send", action="store_true", help="send it to the team channels (BACKLOG_NOTIFY_URLS)")
    p.add_argument("--days", type=_positive, default=7)
    p = add("mail", cmd_mail, "turn a person's e-mails off or on: `backlog mail off ana@example.com`")
    p.add_argument("setting", choices=["on", "off"])
    p.add_argument("email")

    p = add("doctor", cmd_doctor, "check that SQL and the vector store agree, and repair drift")
    p.add_argument("--repair", action="store_true")
    p = add("backup", cmd_backup, "write a consistent copy of the backlog and the knowledge base")
    p.add_argument("path")
    p = add("restore", cmd_restore, "replace the backlog and knowledge base with a backup")
    p.add_argument("path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="backlog: %(message)s")
    try:
        return int(args.func(args))
    except DomainError as error:
        if args.debug:
            raise
        print(f"backlog: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("backlog: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:
        if args.debug:
            raise
        from pydantic import ValidationError

        if isinstance(error, ValidationError):
            first = error.errors()[0]
            print(f"backlog: bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
            return EXIT_BAD_INPUT
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"backlog: {type(error).__name__}: {message} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
