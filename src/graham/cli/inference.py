"""Commands that use a trained bundle: ``predict``, ``explain`` and ``serve``."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import GrahamError
from .app import app
from .common import check_first, fail, handled
from .options import DEVICE_OPT

__all__ = ["predict", "explain", "serve", "expand_inputs"]


def expand_inputs(paths: List[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders searched recursively for audio, glob patterns expanded; and a
    line for each input that names nothing to read."""
    from ..audio.decode import AUDIO_EXTENSIONS

    files: list[Path] = []
    missing: list[str] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                if f.is_file():
                    files.append(f)
                elif f.is_symlink() and not f.exists():
                    missing.append(f"{f}: a link to a file that does not exist")
                elif not f.is_dir() or not any(g.suffix.lower() in AUDIO_EXTENSIONS for g in f.iterdir()):
                    missing.append(f"{f}: named like audio, but not a file")  # (a folder of audio is walked)
        elif path.exists():
            files.append(path)
        elif any(ch in p for ch in "*?["):
            hits = sorted(Path(h) for h in glob.glob(os.path.expanduser(p), recursive=True) if Path(h).is_file())
            files += hits
            if not hits:
                missing.append(f"{p}: no file matches")
        else:
            missing.append(f"{p}: no such file")
    return files, missing


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    paths: List[str] = typer.Argument(..., help="Audio files, folders (recursive) or glob patterns."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres to show per file (>= 1)."),
    fmt: str = typer.Option("table", "--format", help="table, json (JSON lines) or csv."),
    per_window: bool = typer.Option(False, "--per-window", help="Also the scores of every window (a time line)."),
    workers: int = typer.Option(2, min=1, help="Threads decoding files ahead of the network."),
    neighbours: int = typer.Option(0, "--neighbours", min=0,
                                   help="Also name this many nearest training clips (id, label, similarity): why a "
                                        "song was called what it was."),
    device: str = DEVICE_OPT,
) -> None:
    """Classify songs of any length with a trained bundle."""
    from ..inference.formats import FORMATS, csv_header, format_prediction

    if fmt not in FORMATS:
        fail(GrahamError(f"--format must be one of {', '.join(FORMATS)}"))
    check_first(device=device, bundle=bundle)
    files, problems = expand_inputs(paths)  # before the model loads (seconds): a typo is said at once
    for p in problems:
        typer.secho(f"skipped: {p}", fg=typer.colors.YELLOW, err=True)
    if not files:
        fail(GrahamError(f"no audio file in {', '.join(paths)}"))
    from ..inference.predict import load

    with handled():
        model = load(bundle, device=device)
    it = model.predict_many(files, top_k=top_k, per_window=per_window, workers=workers, neighbours=neighbours)
    if len(files) > 3:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(files), desc="predict", unit="file", file=sys.stderr)
    if fmt == "csv":
        typer.echo(csv_header(per_window, neighbours))
    ok = 0
    for f, pred in it:
        if isinstance(pred, GrahamError):
            typer.secho(f"skipped: {pred}", fg=typer.colors.YELLOW, err=True)
            continue
        ok += 1
        for line in format_prediction(f, pred, fmt, top_k=top_k, per_window=per_window, neighbours=neighbours):
            typer.echo(line)
    if ok == 0:
        typer.secho("error: no input could be read", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _unique_names(paths: List[Path]) -> list[str]:
    """A file-name stem per path, made unique: ``x``, and ``x-2``, ``x-3`` for the next files
    whose stem is also ``x`` (``a/x.wav`` and ``b/x.wav`` must not overwrite each other)."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        out.append(p.stem if seen[p.stem] == 1 else f"{p.stem}-{seen[p.stem]}")
    return out


@app.command()
def explain(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    audio: List[Path] = typer.Argument(..., help="Audio files to explain."),
    out: Path = typer.Option(..., "--out", help="Folder for the figures."),
    layer: Optional[str] = typer.Option(None, help="Backbone layer by name (default: the last convolution)."),
    target: Optional[str] = typer.Option(None, help="Genre to explain (default: the predicted one)."),
    device: str = DEVICE_OPT,
) -> None:
    """Grad-CAM++ heatmaps (heatmap, mel, overlay) of the whole model's class score."""
    check_first(device=device, bundle=bundle, out=out)
    from ..inference.predict import load
    from ..report.explained import ClipToExplain, explain_clips
    from ..report.figures import mean_heatmap_figure

    with handled():
        model = load(bundle, device=device)
        clips = [ClipToExplain(f, name) for f, name in zip(audio, _unique_names(audio))]
        done, means = explain_clips(model, clips, out, target=target, layer=layer,
                                    on_skip=lambda exc: typer.secho(f"skipped: {exc}", fg=typer.colors.YELLOW, err=True))
        for e in done:
            typer.echo(f"{e.clip.path}: {e.genre} -> {e.figure}")
        if len(audio) > 1:
            typer.echo(f"mean per genre: {mean_heatmap_figure(means, model.bundle.mel, out / 'gradcam_mean.png')}")


@app.command()
def serve(
    bundle: Path = typer.Argument(..., help="A bundle folder (RUN/bundle)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port, 1-65535."),
    max_upload_mb: float = typer.Option(50.0, help="Largest accepted upload [MB]."),
    max_in_flight: int = typer.Option(2, min=1, help="Uploads classified at once; the next ones wait for a slot."),
    queue_timeout: float = typer.Option(30.0, min=0, help="How long an upload waits for a slot before a 503 [s]."),
    allow_extend: bool = typer.Option(False, "--allow-extend", help="Offer POST /extend (a label and audio files): "
                                      "any client may then add reference clips to the served model (in memory)."),
    device: str = DEVICE_OPT,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET / (upload page); POST /extend with --allow-extend."""
    check_first(device=device, bundle=bundle)
    from .checks import check_port

    with handled():
        check_port(host, port)  # before the model loads (seconds), not after
    import uvicorn

    from ..inference.predict import load
    from ..inference.serve import create_app

    with handled():
        model = load(bundle, device=device)
    uvicorn.run(create_app(model, max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_in_flight=max_in_flight,
                           queue_timeout_s=queue_timeout, allow_extend=allow_extend), host=host, port=port,
                log_level="info")
