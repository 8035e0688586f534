"""The timeline of a replay as one self-contained HTML page (``hvfuzz export FILE --format html``):
one row per op, one lane per vcpu and one per physical CPU.  A vcpu cell shows its run-loop phase,
which copy of the state is current and DIRTY (pKVM), its power state (PSCI), and its ap_list and
LRs (vgic); a pCPU cell shows the vcpu thread running there.  The failing step is highlighted with
what each side of the oracle saw.  No scripts, no external resources: it opens from a mail."""

from __future__ import annotations

import html
from typing import Any

from hvfuzz.fuzz.export import _op_text, _vcpu_cell
from hvfuzz.fuzz.runner import StepRecord, Verdict
from hvfuzz.fuzz.trace import Trace

_CSS = """
body { font: 13px/1.35 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }
h1 { font-size: 18px; margin: 0 0 .3em; }
.verdict { padding: .6em .9em; border-radius: 6px; margin: .8em 0 1.2em; }
.fail { background: #fde8e8; border: 1px solid #e5a4a4; }
.pass { background: #e6f4ea; border: 1px solid #9fcfae; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d5d9e0; padding: 3px 6px; vertical-align: top; }
th { background: #f1f3f7; position: sticky; top: 0; }
td.op { font-family: ui-monospace, monospace; white-space: nowrap; }
td.lane { font-family: ui-monospace, monospace; font-size: 12px; }
td.acting { background: #eef4ff; }
.stale { color: #b3261e; font-weight: 600; }
.dirty { color: #7a4b00; }
.guest { color: #0b6b2e; font-weight: 600; }
tr.failing td { background: #fde8e8 !important; }
.noop { color: #8a93a3; }
.obs { color: #4a5568; font-size: 12px; }
td.cpu { text-align: center; font-family: ui-monospace, monospace; }
"""


def _lane(d: dict[str, Any]) -> str:
    text = html.escape(_vcpu_cell(d))
    text = text.replace("stale", '<span class="stale">stale</span>')
    text = text.replace("DIRTY=1", '<span class="dirty">DIRTY=1</span>')
    if d["phase"] == "guest":
        text = text.replace("guest", '<span class="guest">guest</span>', 1)
    return text.replace("  ", "<br>")


def _shown(oracle: str, value: Any) -> str:
    """Register values in hex, as the text timeline shows them (INTIDs stay decimal)."""
    if isinstance(value, int) and not isinstance(value, bool) and not oracle.startswith("gic"):
        return hex(value)
    return str(value)


def html_text(trace: Trace, verdict: Verdict, rows: list[StepRecord], name: str) -> str:
    c = trace.config
    head = "".join(f"<th>vcpu{n}</th>" for n in range(c.vcpus))
    head += "".join(f"<th>pCPU{p}</th>" for p in range(c.pcpus))
    body = []
    for rec in rows:
        failing = not verdict.ok and rec.index == verdict.step
        cells = []
        for n, d in enumerate(rec.vcpus):
            cls = "lane acting" if n == rec.op.vcpu else "lane"
            cells.append(f'<td class="{cls}">{_lane(d)}</td>')
        on_cpu = {d["pcpu"]: n for n, d in enumerate(rec.vcpus) if d.get("pcpu") is not None}
        cells += [f'<td class="cpu">{"vcpu" + str(on_cpu[p]) if p in on_cpu else "-"}</td>' for p in range(c.pcpus)]
        obs = "<br>".join(html.escape(f"[{o}] vcpu{v} {what} = {_shown(o, val)}")
                          for o, v, what, val in rec.observations)
        op = html.escape(f"vcpu{rec.op.vcpu}: {_op_text(rec)}")
        op += "" if rec.applied else ' <span class="noop">(no-op)</span>'
        body.append(f'<tr class="{"failing" if failing else ""}" id="step{rec.index}"><td>{rec.index}</td>'
                    f'<td class="op">{op}<div class="obs">{obs}</div></td>{"".join(cells)}</tr>')
    if verdict.ok:
        summary = '<div class="verdict pass">PASS: no oracle violated</div>'
    else:
        summary = (f'<div class="verdict fail"><b>FAIL at step <a href="#step{verdict.step}">{verdict.step}</a>: '
                   f'oracle {html.escape(str(verdict.oracle))}</b><br>{html.escape(verdict.reason)}<br>variant saw: '
                   f'<code>{html.escape(str(verdict.variant_saw))}</code><br>reference saw: '
                   f'<code>{html.escape(str(verdict.reference_saw))}</code></div>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hvfuzz timeline: {html.escape(name)}</title>
<style>{_CSS}</style></head><body>
<h1>hvfuzz timeline: {html.escape(name)}</h1>
<div>variant <b>{html.escape(c.variant)}</b>: {c.vcpus} vcpu(s) on {c.pcpus} pCPU(s), {c.nr_lrs} LRs,
{'protected' if c.protected else 'non-protected'} VM. Cells show each vcpu after the op (the acting vcpu shaded):
run-loop phase and pCPU, DIRTY and which copy (host/hyp) holds the architectural state, power state,
ap_list and LRs.</div>
{summary}
<table><thead><tr><th>step</th><th>op</th>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""
