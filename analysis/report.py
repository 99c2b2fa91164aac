"""A results folder: figures, ``metrics.json``, ``errata.md`` and a self-contained ``report.html``.

Everything is rewritten after each experiment finishes, so a long run that is stopped keeps
what it has done.
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import plots
from ._io import atomic_write


def jsonable(obj: Any) -> Any:
    """Convert arrays and NumPy scalars to lists and Python numbers; NaN and inf to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        return jsonable(np.asarray(obj).tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def deep_merge(into: dict, new: dict) -> dict:
    """Merge nested dict ``new`` into ``into`` (in place) and return it."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            deep_merge(into[k], v)
        else:
            into[k] = v
    return into


def environment() -> dict[str, Any]:
    devices = jax.devices()
    return {
        "jax": jax.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in devices],
        "default_float": "float64" if jax.config.jax_enable_x64 else "float32",
    }


def errata_markdown(errata) -> str:
    lines = ["# Errata", "",
             "Numbers in the chapter that the exact computation contradicts.", "",
             "| item | the chapter says | exact value | why |", "|---|---|---|---|"]
    for e in errata:
        cells = (e.item, e.claim, e.exact, e.reason)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not errata:
        lines.append("| (none in the experiments run) | | | |")
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.6em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.items{color:#666;font-size:.9em} .summary{font-size:1.05em}
.section{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.section img{max-width:100%;border:1px solid #eee}
details pre{background:#f7f7f7;padding:.6em;max-height:24em;overflow:auto;font-size:.8em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:.3em .5em;
vertical-align:top} th{background:#f3f3f3}
"""


def report_html(sections: list[dict], errata, env: dict, title: str) -> str:
    """One page: a section per experiment (summary, figures, numbers), errata, environment."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    # contents: each chapter item with the sections that cover it
    by_item: dict[str, list] = {}
    for s in sections:
        for item in s["items"]:
            by_item.setdefault(item, []).append(s)
    parts.append("<table><tr><th>chapter item</th><th>sections</th></tr>")
    for item in sorted(by_item, key=lambda i: int(i[1:]) if i[1:].isdigit() else 99):
        links = ", ".join(f"<a href='#{s['name']}'>{html.escape(s['title'])}</a>"
                          for s in by_item[item])
        parts.append(f"<tr><td>{item}</td><td>{links}</td></tr>")
    parts.append(f"<tr><td>errata</td><td><a href='#errata'>{len(errata)} disagreement(s) "
                 f"with the chapter</a></td></tr></table>")
    for s in sections:
        parts.append(f"<h2 id='{s['name']}'>{html.escape(s['title'])}</h2>"
                     f"<div class='items'>Chapter items: {', '.join(s['items'])} &middot; "
                     f"{s['seconds']:.1f} s</div><p class='summary'>{html.escape(s['summary'])}"
                     "</p><div class='section'>")
        for name, png in s["figures"].items():
            b64 = base64.b64encode(png).decode()
            parts.append(f"<figure><img alt='{name}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{html.escape(name)}</figcaption></figure>")
        numbers = json.dumps(jsonable(s["numbers"]), indent=1)
        parts.append(f"</div><details><summary>numbers</summary><pre>{html.escape(numbers)}"
                     "</pre></details>")
    parts.append("<h2 id='errata'>Errata</h2><table><tr><th>item</th><th>the chapter says</th>"
                 "<th>exact value</th><th>why</th></tr>")
    for e in errata:
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in e) + "</tr>")
    parts.append("</table><h2 id='environment'>Environment</h2><table>")
    for k, v in env.items():
        parts.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>")
    parts.append("</table></body></html>")
    return "".join(parts)


class ResultsFolder:
    """A results folder that keeps one record per experiment and rebuilds the shared files.

    Each finished experiment is saved as ``sections/<name>.json`` (its numbers, summary,
    errata, figure names and time) beside its PNGs; ``metrics.json``, ``errata.md`` and
    ``report.html`` are then rebuilt from every record in the folder, in ``order``. So a run of
    some experiments (``--only``) updates their sections and keeps the others', and a stopped
    run keeps what it finished.
    """

    def __init__(self, out: str | Path, *, order=(), title: str = "ch6jax: Chapter 6 reproduced",
                 run_info: dict | None = None):
        self.out = Path(out)
        for sub in ("figures", "sections"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.order = list(order)
        self.title = title
        self.env = environment() | (run_info or {})

    def add(self, module, result, seconds: float) -> None:
        for name, fig in result.figures.items():
            atomic_write(self.out / "figures" / f"{name}.png", plots.png_bytes(fig))
        record = {"name": module.NAME, "title": module.TITLE, "items": list(module.ITEMS),
                  "summary": result.summary, "numbers": jsonable(result.numbers),
                  "errata": [e._asdict() for e in result.errata],
                  "figures": list(result.figures), "seconds": seconds,
                  "environment": self.env}
        atomic_write(self.out / "sections" / f"{module.NAME}.json",
                     json.dumps(record, indent=1, allow_nan=False))
        self.write()

    def records(self) -> list[dict]:
        """Every experiment recorded in the folder, in the registry's order."""
        found = {p.stem: json.loads(p.read_text()) for p in (self.out / "sections").glob("*.json")}
        rank = {name: i for i, name in enumerate(self.order)}
        return [found[k] for k in sorted(found, key=lambda k: (rank.get(k, len(rank)), k))]

    def write(self) -> None:
        from .chapter6 import Erratum

        records = self.records()
        metrics, errata = {}, []
        for r in records:
            deep_merge(metrics, r["numbers"])
            errata.extend(Erratum(**e) for e in r["errata"])
        metrics = dict(metrics, environment=self.env, errata=[e._asdict() for e in errata])
        atomic_write(self.out / "metrics.json",
                     json.dumps(jsonable(metrics), indent=2, allow_nan=False))
        atomic_write(self.out / "errata.md", errata_markdown(errata))
        sections = [dict(r, figures={f: (self.out / "figures" / f"{f}.png").read_bytes()
                                     for f in r["figures"]}) for r in records]
        atomic_write(self.out / "report.html",
                     report_html(sections, errata, self.env, self.title))
