"""The page to review ``graham tag``'s guesses by ear: for each track without a genre, its first
seconds, the predicted genre (chosen already, to accept or change), the confidence and the
evidence (nearest tagged tracks, album and artist votes). "Save" writes ``file,genre`` rows of
the decisions, which ``graham tag --apply`` writes into the files. One self-contained HTML file;
every name from the data goes in as text."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

from ..report.html import SAVE_CSV_SCRIPT, audio_uri
from ..utils.files import write_text

__all__ = ["write_review_page"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}audio{width:220px}textarea{width:100%;height:8em}small{color:#555}
button{font-size:1.05em;padding:.4em 1em;margin:.5em 0}"""

_SCRIPT = SAVE_CSV_SCRIPT + """
function decisions() {
  const lines = ['file,genre'];
  document.querySelectorAll('tr.track').forEach(tr => {
    const sel = tr.querySelector('select'), other = tr.querySelector('input.other');
    const v = sel.value === '__new__' ? other.value.trim() : sel.value;
    if (v) lines.push(quote(tr.dataset.file) + ',' + quote(v));
  });
  return lines;
}
document.querySelectorAll('select').forEach(sel => sel.addEventListener('change', () => {
  sel.parentNode.querySelector('input.other').hidden = sel.value !== '__new__';
}));
document.getElementById('save').addEventListener('click', () => {
  const lines = decisions();
  offerCsv(lines.join('\\n') + '\\n', 'reviewed.csv');
  document.getElementById('status').textContent = (lines.length - 1) + ' track(s) to write';
});
"""


def write_review_page(path: str | os.PathLike, rows: Sequence[dict], root: str | os.PathLike, *,
                      classes: Sequence[str], audio_seconds: float = 10.0) -> Path:
    """Write the review page of the ``tags.csv`` rows without a current genre, most confident
    first, each offering ``classes`` with its prediction chosen.

    Parameters
    ----------
    path : str or os.PathLike
        The page.
    rows : sequence of dict
        ``tags.csv``'s rows (:func:`graham.workflows.tag.tag_library`).
    root : str or os.PathLike
        The library's folder (the rows' files are relative to it).
    classes : sequence of str
        The genres to offer.
    audio_seconds : float
        Seconds of each track the page plays.

    Returns
    -------
    Path
    """
    esc = html.escape
    todo = sorted((r for r in rows if not r["current_genre"]), key=lambda r: -float(r["confidence"]))
    body = []
    for r in todo:
        options = "".join(f'<option value="{esc(c, quote=True)}"{" selected" if c == r["predicted"] else ""}>'
                          f'{esc(c)}</option>' for c in classes)
        sound = audio_uri(str(Path(root, r["file"])), 0.0, seconds=audio_seconds)
        player = f'<audio controls preload="none" src="{sound}"></audio>' if sound else "(unreadable)"
        votes = "; ".join(f"{kind} {esc(r[key])}" for kind, key in (("album", "album_vote"), ("artist", "artist_vote"))
                          if r[key])
        body.append(
            f'<tr class="track" data-file="{esc(r["file"], quote=True)}"><td>{esc(r["file"])}</td><td>{player}</td>'
            f'<td>{esc(r["predicted"])} <small>{100 * float(r["confidence"]):.0f} %</small></td>'
            f'<td><small>{esc(r["nearest_tagged"]).replace("; ", "<br>")}</small></td><td><small>{votes}</small></td>'
            f'<td><select><option value="">(leave untagged)</option>{options}<option value="__new__">new genre...'
            f'</option></select><input class="other" hidden placeholder="genre name"></td></tr>')
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>graham: genres to review</title>
<style>{_CSS}</style></head><body>
<h1>Genres to review</h1>
<p>{len(todo)} tracks without a genre, the most confident guesses first. Listen, keep or change each genre (or
leave a track untagged), then <b>Save</b>: <code>graham tag --apply reviewed.csv</code> writes them into the files,
with an undo log.</p>
<table><tr><th>file</th><th>first {audio_seconds:g} s</th><th>guess</th><th>nearest tagged tracks</th>
<th>votes</th><th>genre</th></tr>
{''.join(body)}</table>
<button id="save">Save</button> <span id="status"></span> <a id="download" hidden>reviewed.csv</a>
<textarea id="csv" readonly></textarea>
<script>{_SCRIPT}</script>
</body></html>"""
    path = Path(path)
    write_text(path, page)
    return path
