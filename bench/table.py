"""The one table `make bench` prints (Markdown, so that bench/README.md can hold it as printed)."""

from __future__ import annotations

import math


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with at least ``fraction`` of them at or below it); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _throughput(report: dict) -> list[str]:
    runs = report.get("webhooks")
    if not runs:
        return []
    lines = [
        "### 1. Webhook throughput (PAYMENT RECEIVED, two-creator orders)",
        "",
        "| run | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| web CPU ms/req | database CPU ms/req | commits/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        label = "baseline view (7 statements)" if name.startswith("baseline") else "full webhook pipeline"
        lines.append(
            f"| {label} | {run['concurrency']} | {run['sent']} | {run['rps']:.0f} | {_ms(run['p50'])} | "
            f"{_ms(run['p95'])} | {_ms(run['p99'])} | {run['errors']} | {_ms(run.get('web_cpu_ms', 0))} | "
            f"{_ms(run.get('db_cpu_ms', 0))} | {run.get('commits', 0):.1f} |"
        )
    lines.append("")
    for concurrency in (16, 64):
        base, hook = runs.get(f"baseline-{concurrency}"), runs.get(f"webhook-{concurrency}")
        if base and hook and base["rps"]:
            ratio = hook["rps"] / base["rps"]
            line = f"- {concurrency} connections: pipeline / baseline = **{ratio:.2f}x**"
            if concurrency == 16:
                ok = ratio >= 1.3 and hook["p99"] <= 60
                line += f" (target ≥ 1.3x with p99 ≤ 60 ms: {_verdict(ok)}; p99 {_ms(hook['p99'])} ms)"
            lines.append(line)
        if hook and hook["sent"] < hook["offered"] and hook["elapsed"] < report["seconds"] - 1:
            lines.append(f"  - the {concurrency}-connection run used every prepared order before its time was up")
    return [*lines, "", *_delivery_cost(report)]


def _api(report: dict) -> list[str]:
    runs = report.get("api")
    if not runs:
        return []
    labels = {
        "baseline-16": "baseline view (7 statements)",
        "orders-16": "POST /api/v1/orders (1-2 creators)",
        "balance-16": "GET /api/v1/creators/{id}/balance",
    }
    lines = [
        "### Storefront API (API key, Idempotency-Key on each POST)",
        "",
        "| run | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| web CPU ms/req | database CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        lines.append(
            f"| {labels.get(name, name)} | {run['concurrency']} | {run['sent']} | {run['rps']:.0f} | "
            f"{_ms(run['p50'])} | {_ms(run['p95'])} | {_ms(run['p99'])} | {run['errors']} | "
            f"{_ms(run.get('web_cpu_ms', 0))} | "
            f"{_ms(run.get('db_cpu_ms', 0))} |"
        )
    base = runs.get("baseline-16")
    if base and base["rps"]:
        for name in ("orders-16", "balance-16"):
            if name in runs:
                lines.append(f"- {labels[name]} / baseline = **{runs[name]['rps'] / base['rps']:.2f}x**")
    return [*lines, ""]


def _delivery_cost(report: dict) -> list[str]:
    costs = report.get("delivery_cost")
    if not costs:
        return []
    lines = [
        f"One delivery at a time, in-process ({costs['webhook']['requests']} each through Django's test client, "
        "no HTTP server; statements without BEGIN and COMMIT):",
        "",
        "| run | SQL statements | Python CPU ms | database CPU ms | wall ms | answers |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, cost in costs.items():
        label = "baseline view" if name == "baseline" else "full webhook pipeline"
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(cost["answers"].items()))
        lines.append(
            f"| {label} | {cost['statements']} | {_ms(cost['python_cpu_ms'])} | {_ms(cost['db_cpu_ms'])} | "
            f"{_ms(cost['wall_ms'])} | {answers} |"
        )
    base, hook = costs.get("baseline"), costs.get("webhook")
    if base and hook:
        # What 1.3x the baseline's rate would allow per delivery, on the CPU both share.
        budget = (base["python_cpu_ms"] + base["db_cpu_ms"]) / 1.3
        verdict = (
            f"less than its database work alone ({_ms(hook['db_cpu_ms'])} ms)"
            if hook["db_cpu_ms"] > budget
            else f"{_ms(budget - hook['db_cpu_ms'])} ms of it for Python"
        )
        lines += [
            "",
            f"- CPU per delivery: pipeline {_ms(hook['python_cpu_ms'] + hook['db_cpu_ms'])} ms, baseline "
            f"{_ms(base['python_cpu_ms'] + base['db_cpu_ms'])} ms; 1.3x the baseline's rate leaves the pipeline "
            f"{_ms(budget)} ms, {verdict}",
        ]
    return [*lines, ""]


def _storm(report: dict) -> list[str]:
    run = report.get("storm")
    if not run:
        return []
    speedup = run["first_p50"] / run["duplicate_p50"] if run["duplicate_p50"] else 0.0
    clean = run["double_credits"] == 0 and run["missing_credits"] == 0 and run["payments_completed"] == 1000
    return [
        "### 2. Duplicate storm (1,000 events x 10 deliveries, shuffled, 32 connections)",
        "",
        "| deliveries | req/s | answered processed | answered duplicate | errors |"
        " first p50 / p95 ms | duplicate p50 / p95 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {run['sent']} | {run['rps']:.0f} | {run['first_count']} | {run['duplicate_count']} | {run['errors']} | "
        f"{_ms(run['first_p50'])} / {_ms(run['first_p95'])} | {_ms(run['duplicate_p50'])} / "
        f"{_ms(run['duplicate_p95'])} |",
        "",
        f"- payments completed {run['payments_completed']}/1000; double credits {run['double_credits']}; "
        f"missing credits {run['missing_credits']} (zero double credits: {_verdict(clean)})",
        f"- duplicates answered {speedup:.1f}x faster than first deliveries at the median "
        f"(target ≥ 3x: {_verdict(speedup >= 3)})",
        "",
    ]


def _payouts(report: dict) -> list[str]:
    run = report.get("payouts")
    if not run:
        return []
    events = ", ".join(f"{k} {v}" for k, v in sorted(run["events"].items()))
    fates = ", ".join(f"{k} {v}" for k, v in sorted(run["fates"].items()))
    answers = ", ".join(f"{k} {v}" for k, v in sorted(run["answers"].items()))
    return [
        "### 3. Mixed payout traffic from the simulator (16 connections)",
        "",
        "| webhooks | req/s | p50 ms | p95 ms | p99 ms | errors | payouts whose state differs from the simulator's |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {run['sent']} | {run['rps']:.0f} | {_ms(run['p50'])} | {_ms(run['p95'])} | {_ms(run['p99'])} | "
        f"{run['errors']} | {run['state_mismatches']} |",
        "",
        f"- simulator fates: {fates}",
        f"- webhooks sent (duplicated and shuffled): {events}",
        f"- answers: {answers}",
        "",
    ]


def _audit(report: dict) -> list[str]:
    result = report.get("audit_after_http")
    if not result:
        return []
    verdict = "clean" if result["clean"] else "DIFFERENCES"
    return [f"`audit_ledger` after the HTTP scenarios: **{verdict}** ({result['output'].splitlines()[0]})", ""]


def _scale(report: dict) -> list[str]:
    run = report.get("scale_run")
    if not run:
        return []
    counts = run["counts"]
    lines = [
        f"### 4. Back-office at scale {report['scale']:g} "
        f"({counts['payouts']:,} payouts, {counts['fees']:,} fee rows, {counts['entries']:,} ledger entries)",
        "",
        f"Bulk load (COPY): {run['load_seconds']:.0f} s, then VACUUM ANALYZE {run['analyze_seconds']:.0f} s.",
        "",
        "| page | p50 ms | p95 ms | queries (small DB → loaded) |",
        "|---|---:|---:|---:|",
    ]
    for page in run["pages"]:
        lines.append(
            f"| {page['label']} | {_ms(page['p50'])} | {_ms(page['p95'])} | "
            f"{page['queries_before']} → {page['queries_after']} |"
        )
    worst = max((p["p95"] for p in run["pages"] if p["changelist"]), default=0.0)
    grew = [p["label"] for p in run["pages"] if p["queries_after"] > p["queries_before"]]
    audit = run["audit"]
    lines += [
        "",
        f"- changelist p95 worst {_ms(worst)} ms (target ≤ 300 ms: {_verdict(worst <= 300)}); "
        f"query counts grew on: {', '.join(grew) or 'none'}",
        f"- `audit_ledger`: {audit['seconds']:.1f} s, {'clean' if audit['clean'] else 'DIFFERENCES'} "
        f"(target ≤ 30 s: {_verdict(audit['seconds'] <= 30)})",
        "",
    ]
    return lines


def render(report: dict) -> str:
    m = report["machine"]
    header = [
        f"## Blinno bench, {m['date']}",
        "",
        f"Machine: {m['cpus']} cores ({m['cpu_model']}), {m['memory_gb']} GB, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}; everything on loopback; load average before the run {m['load_before']:.2f}. "
        f"Server: {report['server']}. Throughput runs of {report['seconds']:g} s.",
        "",
    ]
    body = _throughput(report) + _api(report) + _storm(report) + _payouts(report) + _audit(report) + _scale(report)
    return "\n".join(header + body).rstrip()
