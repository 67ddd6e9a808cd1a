"""One self-contained HTML page per run: sections of text, tables and embedded PNG figures."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.figures import new_figure
from ..utils.files import write_text

__all__ = ["Section", "write_report", "mel_png_uri", "audio_uri", "SAVE_CSV_SCRIPT"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}figure{margin:1em 1em 1em 0;display:inline-block;vertical-align:top}
img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}.kv td:first-child{font-weight:600}code,pre{background:#f6f6f6}
pre{padding:.6em;overflow-x:auto}
"""


@dataclass
class Section:
    """A heading, paragraphs, tables (lists of dict rows) and figures (path, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[list[dict]] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)
    pre: list[str] = field(default_factory=list)


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _img(path: Path, caption: str) -> str:
    """A figure; its caption only when it says something (the figure's own title is in the
    image: a caption repeating it is noise)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    alt = caption or Path(path).stem.replace("_", " ")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">{cap}</figure>'



def write_report(path: str | os.PathLike, title: str, sections: list[Section]) -> Path:
    """Write the page (figures embedded as data URIs, so the file stands alone) atomically."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for s in sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
        parts += [_table(t) for t in s.tables]
        parts += [f"<pre>{html.escape(p)}</pre>" for p in s.pre]
        parts += [_img(p, c) for p, c in s.figures]
        parts.append("</section>")
    parts.append("</body></html>\n")
    path = Path(path)
    write_text(path, "".join(parts))
    return path


def mel_png_uri(mel: np.ndarray) -> str:
    """A small log-mel image as a data URI."""
    fig, ax = new_figure(figsize=(2.6, 1.1))
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=70)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def audio_uri(path: str, offset: float, seconds: float = 5.0) -> str:
    """A few seconds of a clip as a WAV data URI (mono, 11025 Hz, 16 bit); empty if unreadable."""
    import soundfile as sf

    from ..audio.decode import load_audio
    from ..errors import AudioError

    try:
        y = load_audio(path, sr=11025, offset=max(0.0, offset), duration=seconds)
    except AudioError:
        return ""
    buf = io.BytesIO()
    sf.write(buf, y, 11025, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


#: JavaScript for a page that saves a CSV made in the browser: ``quote(v)`` quotes a field as RFC
#: 4180 does, ``offerCsv(text, name)`` shows the text in ``textarea#csv`` and offers it as a
#: download through ``a#download``. No script from elsewhere, no server.
SAVE_CSV_SCRIPT = """
function quote(v) { return /[",\\r\\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
function offerCsv(text, name) {
  document.getElementById('csv').value = text;
  const a = document.getElementById('download');
  a.href = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
  a.download = name;
  a.hidden = false;
  a.click();
}
"""
