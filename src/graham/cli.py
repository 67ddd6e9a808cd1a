"""The ``graham`` command (typer). It parses arguments, calls :mod:`graham.pipeline`, prints."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .errors import GrahamError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="graham: music genre classification with graph representation learning (GrahAM).")

DATASET_HELP = ("KIND:PATH — gtzan:DIR, audioset:CSV (with --clips DIR), folder:DIR, csv:TABLE, "
                "or synthetic[:PER_GENRExSECONDS]")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    _setup_logging(verbose)


@app.command()
def version() -> None:
    """Print graham's version."""
    typer.echo(__version__)


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write <genre>/<genre>.000NN.wav into."),
    per_genre: int = typer.Option(100, help="Clips per genre."),
    seconds: float = typer.Option(30.0, help="Duration of each clip [s]."),
    seed: int = typer.Option(0, help="Seed: the same seed and settings give byte-identical files."),
    genres: Optional[List[str]] = typer.Option(None, "--genres", help="Genres to write (repeat); default all ten."),
    sample_rate: int = typer.Option(22050, help="Sample rate [Hz]."),
    workers: Optional[int] = typer.Option(None, help="Processes (default: all cores)."),
) -> None:
    """Write the built-in synthetic genre corpus as a GTZAN-shaped folder."""
    from .synth import GENRES, SynthSpec, generate_corpus

    try:
        spec = SynthSpec(per_genre, seconds, seed, tuple(genres) if genres else GENRES, sample_rate)
        generate_corpus(out, spec, workers=workers, skip_existing=False)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"wrote {per_genre * len(spec.genres)} clips of {seconds:g} s to {out}")


@app.command()
def corpus(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    clips: Optional[Path] = typer.Option(None, help="AudioSet: folder holding the clips."),
    out: Optional[Path] = typer.Option(None, help="Write the corpus table (CSV) here."),
) -> None:
    """Read a data set and summarise it: clips per class and skipped files."""
    from .data import open_dataset
    from .io import write_text

    try:
        c = open_dataset(dataset, clips=clips)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(c.summary())
    for note in c.notes:
        typer.echo(f"note: {note}")
    for s in c.skipped:
        typer.secho(f"skipped: {s}", fg=typer.colors.YELLOW)
    if out:
        write_text(out, c.to_csv())
        typer.echo(f"wrote {out}")


@app.command()
def features(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    out: Path = typer.Option(..., "--out", help="Feature folder (a cache: reruns reuse entries)."),
    clips: Optional[Path] = typer.Option(None, help="AudioSet: folder holding the clips."),
    workers: int = typer.Option(2, help="Parallel workers."),
    sr: int = typer.Option(22050, help="Sample rate [Hz]."),
    n_mels: int = typer.Option(128, help="Mel bands."),
    n_fft: int = typer.Option(2048, help="FFT size [samples]."),
    hop_length: int = typer.Option(512, help="Hop [samples]."),
) -> None:
    """Compute (or reuse) the log-mel spectrogram of every clip of a data set."""
    from .audio import MelConfig
    from .pipeline import extract_features

    try:
        run = extract_features(dataset, out, clips=str(clips) if clips else None, workers=workers,
                               config=MelConfig(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length))
    except GrahamError as exc:
        _fail(exc)
    fs = run.features
    typer.echo(f"{len(fs)} clips, {len(fs.corpus.classes)} classes: log-mels in {fs.paths[0].parent.parent} "
               f"({run.seconds:.1f} s)")
    for s in run.skipped:
        typer.secho(f"skipped: {s}", fg=typer.colors.YELLOW)
    typer.echo(f"index: {run.out / 'corpus.csv'}; skipped list: {run.out / 'skipped.txt'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Run folder."),
    workers: int = typer.Option(2, help="Parallel workers."),
) -> None:
    """Run graham end to end on the built-in synthetic corpus."""
    from .pipeline import run_demo

    try:
        summary = run_demo(out, workers=workers)
    except GrahamError as exc:
        _fail(exc)
    typer.echo(f"{summary['corpus']}: {summary['clips']} clips, classes {', '.join(summary['classes'])}")
    typer.echo(f"did: {'; '.join(summary['steps'])} in {summary['seconds']} s")
    typer.echo(f"summary: {out / 'summary.json'}")


if __name__ == "__main__":  # pragma: no cover
    app()
