"""The pull-request comment: ``hoist plan --diff`` as Markdown, rendered from the same data that
``--diff --json`` prints, in the order a reviewer needs it — what the change destroys or interrupts,
what it costs and why, what it grants, then every resource it touches.

Long tables fold into <details>; GitHub refuses a comment over 65,536 characters, so a longer one is
cut, and says where the whole diff is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hoist.plan import components as shared_endpoint
from hoist.plan import grants
from hoist.plan.report import COMPUTED, sizing_lines
from infra.contract import IN_CLUSTER_PROJECT

LIMIT = 60_000
ALERTS = {"caution": "CAUTION", "warning": "WARNING", "note": "NOTE"}
ACTIONS = {"create": ("+", "create"), "update": ("~", "update"), "replace": ("±", "**replace**"),
           "delete": ("−", "delete")}
COLLAPSE_AFTER = 25
"""Tables longer than this are folded into a <details> block."""


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _delta(value: float) -> str:
    return f"{'+' if value >= 0 else '−'}{_money(abs(value))}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(value: Any, limit: int = 60) -> str:
    text = COMPUTED if value == COMPUTED else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _risks(diff: dict[str, Any]) -> list[str]:
    lines = []
    for risk in diff["risks"]:
        lines += [f"> [!{ALERTS[risk['severity']]}]", f"> **{risk['title']}.** {risk['meaning']}", ""]
    return lines


def _cost(diff: dict[str, Any]) -> list[str]:
    c = diff["cost"]
    lines = [
        "| monthly cost | at maximum | idle |",
        "|---|---:|---:|",
        f"| before | {_money(c['before']['monthly_max_usd'])} | {_money(c['before']['monthly_idle_usd'])} |",
        f"| after | {_money(c['after']['monthly_max_usd'])} | {_money(c['after']['monthly_idle_usd'])} |",
        f"| **delta** | **{_delta(c['delta']['monthly_max_usd'])}** | **{_delta(c['delta']['monthly_idle_usd'])}** |",
        "",
    ]
    if c["lines"]:
        lines += ["Where the delta comes from, largest first:", "",
                  "| cost line | before | after | Δ at maximum | Δ idle |", "|---|---|---|---:|---:|"]
        for line in c["lines"]:
            component = line["component"].removeprefix("hoist:").split(":")[0]
            before, after = (f"{s['quantity']}: {_money(s['monthly_max_usd'])}" if s["quantity"] else "—"
                             for s in (line["before"], line["after"]))
            lines.append(f"| {_cell(line['subject'])} ({component}) | {_cell(before)} | {_cell(after)} | "
                         f"{_delta(line['delta_max_usd'])} | {_delta(line['delta_idle_usd'])} |")
        lines += [f"| **total** | {_money(c['before']['monthly_max_usd'])} | {_money(c['after']['monthly_max_usd'])} | "
                  f"**{_delta(c['delta']['monthly_max_usd'])}** | **{_delta(c['delta']['monthly_idle_usd'])}** |", ""]
    return lines


def _sizing(diff: dict[str, Any]) -> list[str]:
    sizing = diff.get("llm_sizing") or {}
    after = sizing.get("after")
    if after is None:
        return []
    same = " (unchanged)" if after == sizing.get("before") else ""
    return [f"#### LLM endpoint sizing{same}", "", *[f"- {line}" for line in sizing_lines(after)], ""]


def _components(diff: dict[str, Any]) -> list[str]:
    shared = diff.get("inference_components") or {}
    after = shared.get("after")
    if after is None:
        return []
    same = " (unchanged)" if after == shared.get("before") else ""
    return [f"#### Models on the shared endpoint{same}", "",
            *[f"- {line}" for line in shared_endpoint.lines(after)], ""]


def _summary(diff: dict[str, Any]) -> list[str]:
    r, policy = diff["resources"], diff["policy"]
    lines = [f"**Resources:** {r['create']} to add, {r['update']} to change, {r['replace']} to replace, "
             f"{r['delete']} to remove ({r['total']} in total).", ""]
    if policy["passed"]:
        lines.append(f"**Policy:** {policy['policies']} policies, no violations.")
    else:
        lines.append(f"**Policy:** {len(policy['violations'])} violation(s) — `pulumi up` would be refused:")
        lines += [f"- `{v['policy']}` on `{v['urn'].rsplit('::', 1)[-1]}`: {v['message']}"
                  for v in policy["violations"]]
    return [*lines, ""]


def _code(text: str) -> str:
    return f"`{_cell(text)}`" if text else ""


def _flagged(grant: dict[str, Any], part: str, text: str) -> str:
    return f"{text} ⚠️" if part in grant["wildcards"] and text else text


def _permissions(diff: dict[str, Any]) -> list[str]:
    rows = []
    for policy in diff["permissions"]:
        for sign, key in (("+", "added"), ("−", "removed")):
            # One row per (effect, principal, resource, condition), its actions together.
            groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
            for grant in policy[key]:
                groups.setdefault((grant["effect"], grant["principal"], grant["resource"], grant["condition"]),
                                  []).append(grant)
            for (effect, principal, resource, condition), members in groups.items():
                actions = ", ".join(_flagged(g, "action", _code(g["action"])) for g in members)
                first = members[0]
                # An identity policy's principal is whoever holds it: no principal of its own.
                rows.append(f"| {sign} | {policy['kind']} `{policy['name']}` | {effect} | "
                            f"{_flagged(first, 'principal', _code(principal)) or '—'} | {actions} | "
                            f"{_flagged(first, 'resource', _code(resource))} | {_cell(condition)} |")
    if not rows:
        return []
    intro = ["#### Permissions", "",
             "Granted (+) and revoked (−), one row per effect, principal, resource and condition. "
             "⚠️ marks a wildcard in an Allow: it matches more than one principal, action or resource.", ""]
    header = ["| | policy | effect | principal | action | resource | condition |", "|---|---|---|---|---|---|---|"]
    return [*intro, *_table(header, rows, "permission changes"), ""]


def _details(change: dict[str, Any], regranted: set[str], limit: int = 6) -> str:
    if change["action"] in ("create", "delete"):
        return ""
    if change["type"] in grants.POLICY_INPUTS and all(
            leaf["path"].split(".")[0].split("[")[0] == grants.POLICY_INPUTS[change["type"]][0]
            for leaf in change["inputs"]):
        return "see Permissions" if change["urn"] in regranted else "the policy is written differently; same grants"
    causes = {c["input"]: c["name"] for c in change["computed_from_replaced"]}
    create_only = {r["path"] for r in change["replaced_because"]}
    parts = []
    for leaf in change["inputs"][:limit]:
        text = f"`{leaf['path']}`: {_short(leaf['before'])} → {_short(leaf['after'])}"
        if leaf["path"] in causes:
            text += f" (from `{causes[leaf['path']]}`, replaced)"
        if leaf["path"] in create_only or any(leaf["path"].startswith(p + ".") for p in create_only):
            text += " **create-only**"
        parts.append(text)
    if len(change["inputs"]) > limit:
        parts.append(f"… and {len(change['inputs']) - limit} more")
    parts += [f"`{o['option']}`: {o['before']} → {o['after']}" for o in change["options"]]
    return _cell("<br>".join(parts))


def part_of(urn: str) -> str:
    """Which of the stack's two projects a resource is in, as the workflows name them."""
    return "in-cluster" if urn.split("::")[1:2] == [IN_CLUSTER_PROJECT] else "AWS"


def _changes(diff: dict[str, Any]) -> list[str]:
    regranted = {policy["urn"] for policy in diff["permissions"]}
    rows = []
    for change in diff["changes"]:
        sign, verb = ACTIONS[change["action"]]
        if change["holds_data"] and change["action"] in ("replace", "delete"):
            verb += ", kept outside the stack (retained)" if change["retain_on_delete"] else ", **loses data**"
        if change["protect"] and change["action"] in ("replace", "delete"):
            verb += ", refused while protected"
        rows.append(f"| {sign} | `{change['name']}` | {part_of(change['urn'])} | `{change['type']}` | {verb} | "
                    f"{_details(change, regranted)} |")
    if not rows:
        return []
    header = ["| | resource | part | type | change | details |", "|---|---|---|---|---|---|"]
    return ["#### Changes", "", *_table(header, rows, "resource changes"), ""]


def _table(header: list[str], rows: list[str], what: str) -> list[str]:
    if len(rows) <= COLLAPSE_AFTER:
        return [*header, *rows]
    # The blank line after <summary> lets GitHub render the table inside the fold.
    return [f"<details><summary>{len(rows)} {what}</summary>", "", *header, *rows, "", "</details>"]


def markdown(diff: dict[str, Any]) -> str:
    """The comment for a diff from ``hoist.plan.diff.compare``."""
    title = [f"### hoist plan — `{diff['stack']}` compared with `{diff['base']['ref']}`", ""]
    if not diff["base"]["exists"]:
        title += [f"_Stack `{diff['stack']}` does not exist at `{diff['base']['ref']}`; everything below is new._", ""]
    sections: list[Callable[[dict[str, Any]], list[str]]] = [_risks, _cost, _sizing, _components, _summary,
                                                               _permissions, _changes]
    text = "\n".join(title + [line for section in sections for line in section(diff)]).rstrip("\n") + "\n"
    return text if len(text) <= LIMIT else _shortened(text)


def _shortened(text: str) -> str:
    cut = text[:LIMIT].rsplit("\n", 1)[0]
    if cut.count("<details>") > cut.count("</details>"):
        cut += "\n\n</details>"
    return cut + "\n\n_Cut here to fit GitHub's limit on a comment; `hoist plan --diff REF --json` has everything._\n"
