"""The page to label suggested clips by ear: for each, a log-mel thumbnail, the first seconds of
its audio, the model's top guesses and its nearest labelled clips, and a choice of label (a
known genre, a new one typed in, or skip). "Save labels" writes a labels CSV (the labels given
before plus the new ones) that ``graham suggest`` and ``graham train --labels`` read back. One
self-contained HTML file: no server, no script from elsewhere; every name from the data goes in
as text."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..report.html import SAVE_CSV_SCRIPT, audio_uri, mel_png_uri
from ..utils.files import write_text

__all__ = ["write_label_page"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}img{display:block;border:1px solid #eee}audio{width:240px}textarea{width:100%;height:8em}
button{font-size:1.05em;padding:.4em 1em;margin:.5em 0}"""

#: The page's script: reads the rows' choices, builds the CSV (RFC 4180 quoting), offers it as a
#: download and shows it in the text box. Labels given before are kept; a clip labelled anew
#: takes its new label.
_SCRIPT = SAVE_CSV_SCRIPT + """
const GIVEN = JSON.parse(document.getElementById('given').textContent);
function chosen() {
  const out = {};
  document.querySelectorAll('tr.clip').forEach(tr => {
    const sel = tr.querySelector('select'), other = tr.querySelector('input.other');
    let v = sel.value === '__new__' ? other.value.trim() : sel.value;
    if (v) out[tr.dataset.clip] = v;
  });
  return out;
}
function labelsCsv() {
  const all = Object.assign({}, GIVEN, chosen());
  const lines = ['clip_id,label'];
  for (const [c, l] of Object.entries(all)) lines.push(quote(c) + ',' + quote(l));
  return lines.join('\\n') + '\\n';
}
function save() {
  const text = labelsCsv();
  offerCsv(text, 'labels.csv');
  const n = Object.keys(chosen()).length;
  document.getElementById('status').textContent = n + ' new label(s); ' + (text.split('\\n').length - 2) + ' in all';
}
document.querySelectorAll('select').forEach(sel => sel.addEventListener('change', () => {
  sel.parentNode.querySelector('input.other').hidden = sel.value !== '__new__';
}));
document.getElementById('save').addEventListener('click', save);
"""


def write_label_page(path: str | os.PathLike, rows: Sequence[dict], mels, indices: Sequence[int], *,
                     classes: Sequence[str], given: Mapping[str, str], audio_seconds: float = 10.0) -> Path:
    """Write the page for the suggestions ``rows`` (as :func:`graham.workflows.label_less.suggest` makes
    them; ``indices`` their clips' places in ``mels``), offering ``classes``; ``given``: the
    labels so far, kept in the CSV the page saves."""
    esc = html.escape
    options = "".join(f'<option value="{esc(c, quote=True)}">{esc(c)}</option>' for c in classes)
    body = []
    for r, i in zip(rows, indices):
        mel = np.asarray(mels[i])
        audio = audio_uri(r["path"], 0.0, seconds=audio_seconds) if r.get("path") else ""
        guesses = "<br>".join(f"{esc(c)} {100 * p:.0f} %" for c, p in r["top"])
        near = "<br>".join(f"{esc(c)} ({esc(lab)})" for c, lab in r["nearest_labelled"])
        body.append(
            f'<tr class="clip" data-clip="{esc(r["clip_id"], quote=True)}"><td>{r["rank"]}</td>'
            f'<td>{esc(r["clip_id"])}<br><small>group {esc(str(r["group"]))}</small></td>'
            f'<td><img alt="log-mel" src="{mel_png_uri(mel)}"></td>'
            f'<td>{f"<audio controls preload=none src={chr(34)}{audio}{chr(34)}></audio>" if audio else "(unreadable)"}</td>'
            f'<td>{guesses}<br><small>margin {r["margin"]:.2f}</small></td><td><small>{near}</small></td>'
            f'<td><select><option value="">(skip)</option>{options}<option value="__new__">new genre...</option>'
            f'</select><input class="other" hidden placeholder="genre name"></td></tr>')
    given_json = json.dumps(dict(given)).replace("</", "<\\/")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>graham: clips to label</title>
<style>{_CSS}</style></head><body>
<h1>Clips to label next</h1>
<p>{len(rows)} clips, the ones that would teach the model most first: where the graph is least sure, spread over
the collection (at most a few of one group). Listen, pick a genre (or type a new one), then <b>Save labels</b>: the
CSV holds the {len(given)} labels given before and yours; pass it to <code>graham suggest --labels</code> or
<code>graham train --labels</code>.</p>
<table><tr><th>#</th><th>clip</th><th>log-mel</th><th>first {audio_seconds:g} s</th><th>the model's guesses</th>
<th>nearest labelled</th><th>label</th></tr>
{''.join(body)}</table>
<button id="save">Save labels</button> <span id="status"></span> <a id="download" download="labels.csv" hidden>labels.csv</a>
<textarea id="csv" readonly></textarea>
<script type="application/json" id="given">{given_json}</script>
<script>{_SCRIPT}</script>
</body></html>"""
    path = Path(path)
    write_text(path, page)
    return path
