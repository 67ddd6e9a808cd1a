"""The files of an audit: ``audit.json`` (everything, and the ``exclude`` list that
``graham train --exclude`` reads), ``duplicates.csv``, ``suspects.csv``, ``classes.csv`` and
``audit.html``, where the worst cases come first, each with a small log-mel image and a few
seconds of audio to check by ear. Every name from the data goes into the page as text."""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from ..report.html import audio_uri, mel_png_uri
from ..utils.files import csv_text, write_json, write_text
from .core import AuditResult

__all__ = ["write_audit"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}img{display:block;border:1px solid #eee}audio{width:220px}h2{border-bottom:1px solid #ddd}"""


def _clip_cell(result: AuditResult, mels, i: int, offset_s: float = 0.0) -> str:
    c = result.corpus.clips[i]
    fps = result.frames_per_second
    start = int(offset_s * fps)
    mel = np.asarray(mels[i])[:, start:start + int(5 * fps)]
    sound = audio_uri(str(c.path), offset_s)
    player = f'<audio controls preload="none" src="{sound}"></audio>' if sound else "(audio unreadable)"
    return (f"<td>{html.escape(c.clip_id)}<br>{html.escape(c.label)}"
            f'<img src="{mel_png_uri(mel)}" alt="log-mel of {html.escape(c.clip_id)}">{player}</td>')


def write_audit(result: AuditResult, mels, out: str | os.PathLike, *, dataset: str, show: int = 20) -> Path:
    """Write the audit's files under ``out``; returns the page's path. ``show``: worst cases
    per list on the page (the CSVs hold them all)."""
    out = Path(out)
    ids, classes, corpus = result.corpus.clip_ids, result.corpus.classes, result.corpus
    fps = result.frames_per_second
    labels = np.asarray(corpus.targets())
    dup_rows = [{"a": ids[d.a], "b": ids[d.b], "score": round(d.score, 4), "matches": d.matches,
                 "offset_s": round(d.offset / fps, 2), "label_a": corpus.clips[d.a].label,
                 "label_b": corpus.clips[d.b].label} for d in result.duplicates]
    sus_rows = [{"clip_id": ids[i], "label": corpus.clips[i].label, "suggested": classes[int(result.labels.suggested[i])],
                 "suspicion": round(float(result.labels.suspicion[i]), 4),
                 "label_quality": round(float(result.labels.quality[i]), 4),
                 "probability_of_label": round(float(result.labels.proba[i, labels[i]]), 4),
                 "neighbours_disagree": round(float(result.labels.neighbours_disagree[i]), 2)} for i in result.suspects]
    write_json(out / "audit.json", {
        "dataset": dataset, "corpus": corpus.name, "clips": len(corpus), "classes": classes,
        "settings": result.settings, "duplicates": dup_rows, "suspects": sus_rows, "leakage": result.leakage,
        "per_class": result.per_class, "exclude": result.exclude(),
        "method": {"duplicates": "landmark fingerprints of the log-mels, votes at one time offset",
                   "suspects": "confident learning (cleanlab) on out-of-fold probabilities of a logistic regression "
                               "on the clips' log-mel band statistics; folds keep groups and duplicates together"},
    })
    write_text(out / "duplicates.csv", csv_text([list(dup_rows[0])] + [list(r.values()) for r in dup_rows])
               if dup_rows else "a,b,score,matches,offset_s,label_a,label_b\n")
    write_text(out / "suspects.csv", csv_text([list(sus_rows[0])] + [list(r.values()) for r in sus_rows])
               if sus_rows else "clip_id,label,suggested,suspicion,label_quality,probability_of_label,neighbours_disagree\n")
    write_text(out / "classes.csv", csv_text([list(result.per_class[0])] + [list(r.values()) for r in result.per_class]))

    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>graham audit</title>"
             f"<style>{_CSS}</style></head><body><h1>Audit of {e(corpus.name)}</h1>",
             f"<p>{len(corpus)} clips, {len(classes)} classes. {len(result.duplicates)} duplicate pairs, "
             f"{len(result.suspects)} suspect labels. <code>graham train --exclude {e(str(out / 'audit.json'))}</code> "
             f"leaves out {len(result.exclude())} clips (the later clip of each pair, and every suspect).</p>",
             "<h2>Leakage</h2><table>" + "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>"
                                                 for k, v in result.leakage.items()) + "</table>",
             "<h2>Per class</h2><table><tr>" + "".join(f"<th>{e(k)}</th>" for k in result.per_class[0]) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r.values()) + "</tr>" for r in result.per_class)
             + "</table>",
             f"<h2>Duplicates, most alike first ({len(result.duplicates)}; all in duplicates.csv)</h2><table>"
             "<tr><th>clip</th><th>its duplicate</th><th>score</th><th>shared hashes</th><th>offset</th></tr>"]
    for d in result.duplicates[:show]:
        off = d.offset / fps  # b's material appears in a that much later
        parts.append("<tr>" + _clip_cell(result, mels, d.a, max(0.0, off)) + _clip_cell(result, mels, d.b, max(0.0, -off))
                     + f"<td>{d.score:.2f}</td><td>{d.matches}</td><td>{off:+.2f} s</td></tr>")
    parts.append(f"</table><h2>Suspect labels, most suspect first ({len(result.suspects)}; all in suspects.csv)</h2>"
                 "<table><tr><th>clip</th><th>label</th><th>the data says</th><th>label quality</th>"
                 "<th>neighbours labelled otherwise</th></tr>")
    for i in result.suspects[:show]:
        parts.append("<tr>" + _clip_cell(result, mels, i) + f"<td>{e(corpus.clips[i].label)}</td>"
                     f"<td>{e(classes[int(result.labels.suggested[i])])}</td>"
                     f"<td>{result.labels.quality[i]:.3f}</td><td>{100 * result.labels.neighbours_disagree[i]:.0f} %</td></tr>")
    parts.append("</table></body></html>\n")
    page = out / "audit.html"
    write_text(page, "".join(parts))
    return page
