"""Commands on data sets: ``synth``, ``corpus``, ``features`` and ``audit``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

import typer

from ..workflows.requests import DataSource
from .app import app
from .common import check_first, echo_skipped, handled, reports
from .options import data_source, grouped

__all__ = ["synth", "corpus", "features", "audit"]


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
    from ..synth.corpus import SynthSpec, generate_corpus
    from ..synth.styles import GENRES

    with handled():
        spec = SynthSpec(per_genre, seconds, seed, tuple(genres) if genres else GENRES, sample_rate)
        generate_corpus(out, spec, workers=workers, skip_existing=False)
    typer.echo(f"wrote {per_genre * len(spec.genres)} clips of {seconds:g} s to {out}")


@app.command()
@grouped
def corpus(
    source: DataSource = data_source(features=False),
    out: Optional[Path] = typer.Option(None, help="Write the corpus table (CSV) here."),
) -> None:
    """Read a data set and summarise it: clips per class and skipped files."""
    from ..data.spec import open_dataset
    from ..utils.files import write_text

    with handled():
        c = open_dataset(source.spec, clips=source.clips)
    typer.echo(c.summary())
    for note in c.notes:
        typer.echo(f"note: {note}")
    echo_skipped(c.skipped)
    if out:
        write_text(out, c.to_csv())
        typer.echo(f"wrote {out}")


@app.command()
@grouped
def features(
    source: DataSource = data_source(features=False),
    out: Path = typer.Option(..., "--out", help="Feature folder: a sharded store that reruns reuse and a killed "
                             "run resumes."),
    workers: int = typer.Option(2, help="Decoding threads."),
    shard_size: int = typer.Option(256, min=1, help="Clips per shard of the store."),
    sr: Optional[int] = typer.Option(None, help="Sample rate [Hz]; default: the folder's, else 22050."),
    n_mels: Optional[int] = typer.Option(None, help="Mel bands; default: the folder's, else 128."),
    n_fft: Optional[int] = typer.Option(None, help="FFT size [samples]; default: the folder's, else 2048."),
    hop_length: Optional[int] = typer.Option(None, help="Hop [samples]; default: the folder's, else 512."),
) -> None:
    """Compute (or reuse) the log-mel spectrogram of every clip of a data set.

    The folder keeps its settings (features.json): train, experiment, embed and train-siamese
    with --features read them, the bundle records them and predict uses them. A setting that
    disagrees with an existing folder's is an error, never a silent recompute.

    Under torchrun (torchrun --nproc_per_node=N -m graham.cli features ...) each process
    fills its share of the shards."""
    check_first(out=out)
    from ..data.features import resolve_settings
    from ..workflows.features import extract_features

    with handled(interrupted=f"the finished shards are kept in {out}; run the same command again to go on"):
        config = resolve_settings(out, dict(sr=sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length))
        run = extract_features(dataclasses.replace(source, cache=out), workers=workers, shard_size=shard_size,
                               config=config)
    fs = run.features
    if not reports():
        return
    typer.echo(f"{len(fs)} clips, {len(fs.corpus.classes)} classes: log-mels in {fs.dir} ({run.seconds:.1f} s)")
    echo_skipped(run.skipped, where=f" (all of them: {run.out / 'skipped.txt'})")
    typer.echo(f"index: {run.out / 'corpus.csv'}; skipped list: {run.out / 'skipped.txt'}")


@app.command()
@grouped
def audit(
    source: DataSource = data_source(split_list=True),
    out: Path = typer.Option(..., "--out", help="Folder for audit.html, audit.json and the CSVs."),
    folds: int = typer.Option(5, min=2, help="Folds of the out-of-fold predictions."),
    seed: int = typer.Option(0, help="Seed of the folds."),
) -> None:
    """Find duplicates, suspect labels and leakage in a data set; a page to check them by ear.

    graham train/experiment --exclude OUT/audit.json then leave out what it found."""
    check_first(out=out)
    from ..workflows.audit import run_audit

    with handled(interrupted="the log-mels made so far are kept in the feature folder; run the same command again "
                             "to go on"):
        result, page = run_audit(source, out, seed=seed, folds=folds)
    typer.echo(f"{len(result.corpus)} clips: {len(result.duplicates)} duplicate pairs, {len(result.suspects)} suspect "
               f"labels; leakage: {result.leakage}")
    typer.echo(f"page: {page}; list to exclude: {Path(out) / 'audit.json'}")
