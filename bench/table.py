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
        "### 1. Acknowledgements (PAYMENT RECEIVED, two-creator orders; queued settling, no worker running)",
        "",
        "| run | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| web CPU ms/req | database CPU ms/req | commits/req | load generator CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        label = "baseline view (7 statements)" if name.startswith("baseline") else "acknowledgement (stored, answered)"
        lines.append(
            f"| {label} | {run['concurrency']} | {run['sent']} | {run['rps']:.0f} | {_ms(run['p50'])} | "
            f"{_ms(run['p95'])} | {_ms(run['p99'])} | {run['errors']} | {_ms(run.get('web_cpu_ms', 0))} | "
            f"{_ms(run.get('db_cpu_ms', 0))} | {run.get('commits', 0):.1f} | {_ms(run.get('loadgen_cpu_ms', 0))} |"
        )
    lines.append("")
    for concurrency in (16, 64):
        hook = runs.get(f"webhook-{concurrency}")
        if hook and hook["sent"] < hook["offered"] and hook["elapsed"] < report["seconds"] - 1:
            lines.append(f"  - the {concurrency}-connection run used every prepared order before its time was up")
    return [*lines, "", *_delivery_cost(report)]


def _ratio(run: dict | None, base: dict | None) -> float | None:
    rps = run.get("settled_per_second", run["rps"]) if run else 0.0
    return rps / base["rps"] if run and base and base["rps"] else None


def ratio_lines(report: dict) -> list[str]:
    """The three ratio lines against the bare view in the same run, with their targets."""
    runs, sync, e2e = report.get("webhooks") or {}, report.get("sync") or {}, report.get("endtoend")
    base16 = runs.get("baseline-16")
    lines = []
    ack = _ratio(runs.get("webhook-16"), base16)
    if ack is not None:
        p99 = runs["webhook-16"]["p99"]
        ok = ack >= 2.5 and p99 <= 40
        lines.append(
            f"ack ratio: {ack:.2f}x at 16 connections, p99 {_ms(p99)} ms "
            f"(target ≥ 2.5x with p99 ≤ 40 ms: {_verdict(ok)})"
        )
    ack64 = _ratio(runs.get("webhook-64"), runs.get("baseline-64"))
    if ack64 is not None:
        lines.append(f"ack ratio at 64 connections: {ack64:.2f}x, p99 {_ms(runs['webhook-64']['p99'])} ms")
    e2e_ratio = _ratio(e2e, base16)
    if e2e and e2e_ratio is not None:
        ok = e2e_ratio >= 2.0 and e2e["lag_p99"] <= 2
        lines.append(
            f"end-to-end ratio: {e2e_ratio:.2f}x ({e2e['settled_per_second']:.0f} settled/s with one Celery worker; "
            f"settle lag p50 {e2e['lag_p50']:.2f} s, p99 {e2e['lag_p99']:.2f} s; target ≥ 2.0x with p99 ≤ 2 s: "
            f"{_verdict(ok)})"
        )
    sync_ratio = _ratio(sync.get("webhook-16"), sync.get("baseline-16"))
    if sync_ratio is not None:
        lines.append(
            f"sync ratio: {sync_ratio:.2f}x, p99 {_ms(sync['webhook-16']['p99'])} ms "
            f"(target ≥ 1.0x: {_verdict(sync_ratio >= 1.0)})"
        )
    return [*lines, ""] if lines else []


def _paced(runs: list[dict]) -> list[str]:
    if not runs:
        return []
    lines = [
        "Paced: deliveries offered at a fixed rate (a multiple of the bare view's at 16 connections), at most 64 "
        "connections, settled by the same worker:",
        "",
        "| offered | req/s answered | p99 ms | settled | settled/s | settle lag p50 s | settle lag p99 s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['multiple']:g}x ({run['offered_rate']:.0f}/s) | {run['rps']:.0f} | {_ms(run['p99'])} | "
            f"{run['settled']} | {run['settled_per_second']:.0f} | {run['lag_p50']:.2f} | {run['lag_p99']:.2f} |"
        )
    best = None
    for run in sorted(runs, key=lambda run: run["multiple"]):
        if run["lag_p99"] > 2:
            break
        best = run
    lines.append("")
    lines.append(
        f"- settle lag p99 ≤ 2 s up to {best['multiple']:g}x the bare view's rate"
        if best
        else "- settle lag p99 over 2 s at every paced rate"
    )
    return [*lines, ""]


def _endtoend(report: dict) -> list[str]:
    run = report.get("endtoend")
    if not run:
        return []
    return [
        "### 1b. End to end (16 connections; one Celery worker settling on the same machine)",
        "",
        "| requests | req/s answered | p99 ms | settled | first request to last settlement s | settled/s "
        "| settle lag p50 s | settle lag p99 s | left unsettled |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {run['sent']} | {run['rps']:.0f} | {_ms(run['p99'])} | {run['settled']} | {run['span_seconds']:.1f} | "
        f"{run['settled_per_second']:.0f} | {run['lag_p50']:.2f} | {run['lag_p99']:.2f} | {run['unsettled']} |",
        "",
        *_paced(report.get("endtoend_paced") or []),
    ]


def _sync(report: dict) -> list[str]:
    runs = report.get("sync")
    if not runs:
        return []
    lines = [
        "### 1c. Synchronous (no broker: settled in the request; 16 connections)",
        "",
        "| run | requests | req/s | p50 ms | p95 ms | p99 ms | errors | web CPU ms/req | database CPU ms/req "
        "| load generator CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        label = "baseline view" if name.startswith("baseline") else "full pipeline, settled inline"
        lines.append(
            f"| {label} | {run['sent']} | {run['rps']:.0f} | {_ms(run['p50'])} | {_ms(run['p95'])} | "
            f"{_ms(run['p99'])} | {run['errors']} | {_ms(run.get('web_cpu_ms', 0))} | {_ms(run.get('db_cpu_ms', 0))} | "
            f"{_ms(run.get('loadgen_cpu_ms', 0))} |"
        )
    return [*lines, ""]


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
    labels = {"baseline": "baseline view", "webhook": "acknowledgement", "settle": "settler, per event (batches)"}
    for name, cost in costs.items():
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(cost["answers"].items()))
        lines.append(
            f"| {labels[name]} | {cost['statements']:.1f} | {_ms(cost['python_cpu_ms'])} | {_ms(cost['db_cpu_ms'])} | "
            f"{_ms(cost['wall_ms'])} | {answers} |"
        )
    base, hook, settle = costs.get("baseline"), costs.get("webhook"), costs.get("settle")
    if base and hook and settle:
        whole = hook["python_cpu_ms"] + hook["db_cpu_ms"] + settle["python_cpu_ms"] + settle["db_cpu_ms"]
        lines += [
            "",
            f"- CPU per delivery: acknowledgement {_ms(hook['python_cpu_ms'] + hook['db_cpu_ms'])} ms plus settling "
            f"{_ms(settle['python_cpu_ms'] + settle['db_cpu_ms'])} ms = {_ms(whole)} ms; baseline "
            f"{_ms(base['python_cpu_ms'] + base['db_cpu_ms'])} ms",
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
        "| deliveries | req/s | answered accepted (first) | answered duplicate | errors |"
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
        f"Bulk load (COPY): {run['load_seconds']:.0f} s, then VACUUM ANALYZE {run['analyze_seconds']:.0f} s, "
        f"then the hourly close of ledger days and volumes {run['close_seconds']:.1f} s.",
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
    home = next((p["p95"] for p in run["pages"] if p["url"] == "/admin/"), None)
    balance = next((p["p95"] for p in run["pages"] if p["url"].endswith("/balance")), None)
    grew = [p["label"] for p in run["pages"] if p["queries_after"] > p["queries_before"]]
    audit = run["audit"]
    lines += [
        "",
        f"- changelist p95 worst {_ms(worst)} ms (target ≤ 300 ms: {_verdict(worst <= 300)}); "
        f"query counts grew on: {', '.join(grew) or 'none'}",
        f"- home page p95 {_ms(home or 0)} ms (target ≤ 300 ms: {_verdict(home is not None and home <= 300)}); "
        f"GET balance p95 {_ms(balance or 0)} ms (target ≤ 20 ms: {_verdict(balance is not None and balance <= 20)})",
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
    body = (
        ratio_lines(report)
        + _throughput(report)
        + _endtoend(report)
        + _sync(report)
        + _api(report)
        + _storm(report)
        + _payouts(report)
        + _audit(report)
        + _scale(report)
    )
    return "\n".join(header + body).rstrip()
