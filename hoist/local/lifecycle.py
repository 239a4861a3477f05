"""`hoist local`'s run: the offline plan of the dev stack, then each lane in turn, then the summary."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from hoist.local import classic, llm
from hoist.local.layout import Layout, LocalSettings, Summary
from hoist.local.tracker import Tracker, progress_bar
from hoist.plan import cost, policies, recording


def plan_stage(stack: str) -> dict[str, Any]:
    planned = recording.record(stack)
    policy = policies.evaluate(planned)
    estimate = cost.estimate(planned)
    return {"stack": stack, "resources": len([r for r in planned.resources if r.custom]),
            "policies": len(policy.policies), "violations": len(policy.violations),
            "monthly_usd": round(estimate.monthly_max_usd, 2)}


def run_lifecycle(settings: LocalSettings, console: Console) -> Summary:
    """Every stage in order; each stage's time and result are recorded in ``summary.json``."""
    layout = Layout(settings.workdir)
    layout.create()
    summary = Summary(workdir=str(settings.workdir))
    with progress_bar(console) as progress:
        tracker = Tracker(progress, summary)
        with tracker.stage("plan", f"stack {settings.stack}") as done:
            summary.plan = plan_stage(settings.stack)
            done(f"{summary.plan['resources']} resources, {summary.plan['violations']} violations, "
                 f"${summary.plan['monthly_usd']:,.2f}/month")
        if "classic" in settings.lanes:
            classic.run(settings, layout, summary, tracker)
        if "llm" in settings.lanes:
            llm.run(settings, layout, summary, tracker)
    summary.artifacts["logs"] = str(layout.logs)
    (settings.workdir / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def print_summary(summary: Summary, console: Console) -> None:
    stages = Table(title="hoist local", title_justify="left")
    for column in ("stage", "seconds", "result"):
        stages.add_column(column)
    for s in summary.stages:
        stages.add_row(s.name, f"{s.seconds:.1f}", s.result)
    console.print(stages)
    if summary.serving:
        models = Table(title="original and optimised model, served", title_justify="left")
        for column in ("model", "exact match", "p50 ms", "p99 ms", "weights"):
            models.add_column(column)
        sizes = {"original": summary.optimize.get("before", {}).get("weights_bytes"),
                 "optimized": summary.optimize.get("after", {}).get("weights_bytes")}
        for name, result in summary.serving.items():
            size = sizes.get(name)
            models.add_row(name, f"{result['exact_match']:.1%}", str(result["p50_ms"]), str(result["p99_ms"]),
                           f"{size / 1e6:.2f} MB" if size else "-")
        console.print(models)
    if summary.llm.get("serving"):
        llm = Table(title="the fine-tuned LLM, served by vLLM", title_justify="left")
        for column in ("called through", "exact match", "p50 ms", "first token p50 ms"):
            llm.add_column(column)
        for way, result in summary.llm["serving"]["ways"].items():
            llm.add_row(way, f"{result['exact_match']:.1%}", str(result["p50_ms"]),
                        str(result["time_to_first_token_p50_ms"]) if "stream" in way else "-")
        console.print(llm)
    if summary.llm.get("optimize"):
        sides = Table(title="the LLM, original and W8A8, served by vLLM", title_justify="left")
        for column in ("model", "exact match", "p50 ms", "perplexity", "weights"):
            sides.add_column(column)
        for name in ("before", "after"):
            result = summary.llm["optimize"][name]
            sides.add_row({"before": "original", "after": "w8a8"}[name], f"{result['exact_match']:.1%}",
                          str(result["p50_ms"]), str(result.get("perplexity", "-")),
                          f"{result['weights_bytes'] / 1e6:.2f} MB")
        console.print(sides)
    artifacts = Table(show_header=False, box=None)
    for name, path in summary.artifacts.items():
        artifacts.add_row(name, path)
    console.print(artifacts)
