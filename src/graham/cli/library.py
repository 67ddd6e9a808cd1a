"""``graham tag``: a music library's missing genres, from its audio and its own relations; the
GENRE tags written only with ``--write``, every change undoable with ``--undo``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ParameterError
from .app import app
from .common import check_first, fail, handled
from .options import DEVICE_OPT, ModelOptions, grouped, model_options

__all__ = ["tag"]


def _undo(log: Path) -> None:
    from ..data.tag_write import undo

    with handled():
        if not log.is_file():
            raise ParameterError(f"--undo {log}: no such undo log")
        report = undo(log)
    typer.echo(f"restored {len(report.written)} files ({len(report.kept)} were as they had been)")
    for path, why in report.failed:
        typer.secho(f"not restored: {path}: {why}", fg=typer.colors.YELLOW, err=True)


def _say_written(report, log: Path) -> None:
    typer.echo(f"wrote GENRE into {len(report.written)} files; {len(report.kept)} kept their genre; "
               f"undo: graham tag --undo {log}")
    for path, why in report.failed:
        typer.secho(f"not written: {path}: {why}", fg=typer.colors.YELLOW, err=True)


def _apply(reviewed: Path, library: Optional[Path], out: Optional[Path], *, overwrite: bool) -> None:
    if library is None or out is None:
        fail(ParameterError("graham tag LIBRARY --out DIR --apply REVIEWED.csv"))
    assert library is not None and out is not None
    from ..workflows.tag import apply_review

    with handled():
        report, log = apply_review(reviewed, library, out, overwrite=overwrite)
    _say_written(report, log)


@app.command()
@grouped
def tag(
    library: Optional[Path] = typer.Argument(None, help="The music library's folder (every audio file below it)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder: tags.csv, tag.json, the embedding cache, "
                                       "undo logs."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="A trained bundle whose Siamese network embeds the "
                                          "tracks; without it, one is trained on the library's tagged tracks."),
    model: ModelOptions = model_options("preset", "epochs", "contrastive"),
    genre_map: Optional[Path] = typer.Option(None, "--genre-map", help="CSV of spelling,genre rows: spellings merged "
                                             "into one genre (Hip-Hop,hip hop)."),
    min_tracks: int = typer.Option(3, "--min-tracks", min=1, help="Genres with fewer tagged tracks are left out (and "
                                   "named)."),
    write: bool = typer.Option(False, "--write", help="Write the predicted GENRE into the files without one (a dry "
                               "run otherwise: tags.csv only)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --write: replace a genre a file has."),
    min_confidence: float = typer.Option(0.6, "--min-confidence", min=0.0, max=1.0,
                                         help="With --write: only predictions at least this confident."),
    undo: Optional[Path] = typer.Option(None, "--undo", help="An undo log that --write left in OUT: restore every "
                                        "tag it changed, exactly."),
    apply: Optional[Path] = typer.Option(None, "--apply", help="The CSV the review page (OUT/review.html) saved: write "
                                         "the genres chosen there (with an undo log in OUT)."),
    seed: int = typer.Option(0),
    device: str = DEVICE_OPT,
) -> None:
    """Fill in a library's missing genres from the audio and the relations it holds (albums, artists)."""
    if undo is not None:
        return _undo(undo)
    if apply is not None:
        return _apply(apply, library, out, overwrite=overwrite)
    if library is None or out is None:
        fail(ParameterError("graham tag LIBRARY --out DIR [--bundle BUNDLE] (or --undo LOG, or LIBRARY --out DIR "
                            "--apply REVIEWED)"))
    assert library is not None and out is not None
    if bundle is not None and (model.epochs is not None or model.contrastive is not None):
        fail(ParameterError("--bundle embeds with the bundle's Siamese network and trains none: --epochs and "
                            "--contrastive are for a training on the library"))
    check_first(device=device, out=out, bundle=bundle)
    from ..data.library import read_genre_map
    from ..workflows.tag import tag_library, write_tags

    with handled(interrupted=f"the embeddings made so far are kept in {out / 'cache'}; run the same command again "
                             "to go on"):
        res = tag_library(library, out, bundle, settings=model.few_labels(seed=seed, device=device),
                          genre_map=read_genre_map(genre_map) if genre_map else None,
                          min_tracks=min_tracks, seed=seed, device=device,
                          on_skip=lambda e: typer.secho(f"skipped: {e}", fg=typer.colors.YELLOW, err=True))
    lib = res.library
    typer.echo(f"{len(lib.tracks)} tracks, {sum(bool(g) for g in lib.genres)} tagged in {len(lib.classes)} genres "
               f"({', '.join(lib.classes)}); {len(res.untagged)} without a genre; {res.seconds:.0f} s")
    if lib.left_out:
        typer.echo("left out (too few tracks): " + ", ".join(f"{g} ({n})" for g, n in lib.left_out.items()))
    typer.echo(f"predictions: {out / 'tags.csv'}; review them by ear: {out / 'review.html'}")
    if write:
        with handled():
            report, log = write_tags(res, min_confidence=min_confidence, overwrite=overwrite)
        _say_written(report, log)
