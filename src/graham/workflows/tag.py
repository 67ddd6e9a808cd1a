"""``graham tag``: fill in a library's missing genres from the audio and the relations it already
holds. Every track is a node; the tracks with a GENRE tag are the labelled ones; the audio kNN
graph and the album and artist relations are the edges (the relation-aware GrahAM layer, then
correct & smooth over both); each untagged track gets a genre, a confidence and the evidence.

Nothing is written to a music file here: ``tags.csv`` says what would be, and
:func:`write_tags` writes it when asked, with an undo log (:mod:`graham.data.tag_write`)."""

from __future__ import annotations

import csv
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.decode import audio_info, load_audio
from ..audio.excerpts import EXCERPT_SECONDS, excerpt_offsets
from ..data.library import Library, read_library
from ..data.tag_write import GenreWrite, WriteReport, write_genres
from ..errors import AudioError, DatasetError, ParameterError
from ..inference.frontend import FrontEnd
from ..utils.files import atomic_path, csv_text, writable_folder, write_json, write_text
from .requests import ModelSettings

__all__ = ["embed_tracks", "TagResult", "tag_library", "write_tags", "apply_review"]

def _content_key(path: Path, model: str) -> str:
    """A file's cache key: its size and its first and last MiB (a file edited in place gets a
    new key; its tags only are not read twice per run), with the embedding model's digest."""
    h = hashlib.blake2b(digest_size=16)
    size = path.stat().st_size
    h.update(f"{size}\0{model}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
    return h.hexdigest()


def _embed_file(front: FrontEnd, path: Path) -> np.ndarray:
    """The mean embedding over the windows of a file's excerpts [shape=(d,)]."""
    info = audio_info(path)
    embs = []
    for offset in excerpt_offsets(info.duration):
        y = load_audio(path, sr=front.config.sr, offset=offset, duration=EXCERPT_SECONDS)
        if y.shape[0] < front.config.n_fft // 2 + 1:
            continue
        e, _ = front.window_embeddings(front.logmel_of(y))
        embs.append(e)
    if not embs:
        raise AudioError(str(path), "too short to classify")
    return np.concatenate(embs).mean(0)


def embed_tracks(front: FrontEnd, paths: Sequence[Path], cache: str | os.PathLike, *, model_digest: str,
                 progress: bool = True) -> tuple[np.ndarray, list[AudioError]]:
    """Every track's embedding [shape=(N, d); a row of NaN for a track that cannot be read],
    and the errors. Each is kept in ``cache`` by the file's content and the model, written
    atomically as soon as it is made: a rerun after adding files embeds only those, and a
    killed run goes on where it stopped."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    it = paths
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(paths, desc="embed", unit="track")
    for path in it:
        try:
            target = cache / f"{_content_key(path, model_digest)}.npy"
            if target.exists():
                rows.append(np.load(target))
                continue
            e = _embed_file(front, path).astype(np.float32)
        except AudioError as exc:
            failed.append(exc)
            rows.append(None)
            continue
        except OSError as exc:
            failed.append(AudioError(str(path), f"cannot read ({exc.strerror or exc})"))
            rows.append(None)
            continue
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, e)  # a file, not a name: np.save would add ".npy" to the temporary one
        rows.append(e)
    dim = next((len(r) for r in rows if r is not None), 1)
    return np.stack([r if r is not None else np.full(dim, np.nan, np.float32) for r in rows]), failed


@dataclass
class TagResult:
    """What :func:`tag_library` found: the library, the rows of ``tags.csv`` and where it is."""

    library: Library
    rows: list[dict]
    out: Path
    seconds: float

    @property
    def untagged(self) -> list[dict]:
        return [r for r in self.rows if not r["current_genre"]]


def tag_library(root: str | os.PathLike, out: str | os.PathLike, bundle: str | os.PathLike | None = None, *,
                settings: ModelSettings | None = None, genre_map: dict[str, str] | None = None, min_tracks: int = 3,
                seed: int = 0, device: str | None = None, progress: bool = True,
                on_skip: Callable[[AudioError], None] | None = None) -> TagResult:
    """Predict a genre for every untagged track of a library.

    Parameters
    ----------
    root : str or os.PathLike
        The library's folder.
    out : str or os.PathLike
        Folder for ``tags.csv``, ``tag.json`` and the embedding cache (``cache/``).
    bundle : str or os.PathLike, optional
        A trained bundle whose Siamese network embeds the tracks. None: one is trained on the
        library's tagged tracks (:func:`~graham.workflows.tag_train.train_embedding`, with
        ``settings``, default :func:`~graham.workflows.label_less.label_less_settings`).
    genre_map : dict, optional
        Spellings merged into genres (:func:`graham.data.library.read_genre_map`).
    min_tracks : int
        Genres with fewer tagged tracks are left out, and reported.
    seed : int
        Seed of the GNN's training.
    device : str, optional
        Where the networks run.
    progress : bool
        Show a progress bar while embedding.
    on_skip : callable, optional
        Hears each file that cannot be read (it is skipped).

    Returns
    -------
    TagResult

    Raises
    ------
    DatasetError
        Fewer than two genres with ``min_tracks`` tagged tracks each.
    """
    from ..inference.bundle_format import bundle_config
    from ..inference.predict import load
    from .tag_graph import predict_library

    t0 = time.perf_counter()
    out = writable_folder(out)
    lib = read_library(root, genre_map=genre_map, min_tracks=min_tracks, on_skip=on_skip)
    if len(lib.classes) < 2:
        raise DatasetError(f"{lib.root}: {len(lib.tracks)} tracks, {len(lib.classes)} genre(s) with {min_tracks} tagged "
                           "tracks or more; tag at least two genres first (graham suggest audio:LIBRARY picks the "
                           "tracks to tag)")
    if bundle is not None:
        bundle_config(bundle)  # a bundle that is not one: said before any track is read
        front = load(bundle, device=device).front
        digest = hashlib.blake2b(Path(bundle, "siamese.safetensors").read_bytes(), digest_size=16).hexdigest()
    else:
        from .label_less import label_less_settings
        from .tag_train import train_embedding

        front, digest = train_embedding(lib, out, settings or label_less_settings(seed=seed, device=device),
                                        progress=progress)
    emb, failed = embed_tracks(front, [t.path for t in lib.tracks], out / "cache", model_digest=digest,
                               progress=progress)
    for exc in failed:
        lib.skipped.append(exc)
        if on_skip is not None:
            on_skip(exc)
    keep = np.flatnonzero(np.isfinite(emb).all(1))
    lib = Library(lib.root, [lib.tracks[i] for i in keep], [lib.genres[i] for i in keep], lib.left_out, lib.skipped)
    rows = predict_library(lib, emb[keep], seed=seed, device=device)
    write_text(out / "tags.csv", csv_text([list(COLUMNS)] + [[r[c] for c in COLUMNS] for r in rows]))
    from ..labelling.review import write_review_page

    write_review_page(out / "review.html", rows, lib.root, classes=lib.classes)
    seconds = time.perf_counter() - t0
    write_json(out / "tag.json", {"library": str(lib.root), "bundle": str(bundle) if bundle else None,
                                  "embedding": "the bundle's" if bundle else "trained on the tagged tracks",
                                  "tracks": len(lib.tracks),
                                  "tagged": sum(bool(g) for g in lib.genres), "classes": lib.classes,
                                  "left_out": lib.left_out, "skipped": [str(s) for s in lib.skipped],
                                  "seconds": round(seconds, 1)})
    return TagResult(lib, rows, out, seconds)


COLUMNS = ("file", "current_genre", "predicted", "confidence", "nearest_tagged", "album_vote", "artist_vote")


def write_tags(result: TagResult, *, min_confidence: float = 0.6, overwrite: bool = False) -> tuple[WriteReport, Path]:
    """Write the predicted GENRE of every track without one (with ``overwrite``, of every track)
    whose confidence reaches ``min_confidence``; the undo log goes to ``out/undo-TIME.jsonl``."""
    if not 0 <= min_confidence <= 1:
        raise ParameterError("--min-confidence lies in [0, 1]")
    rows = [r for r in result.rows if (overwrite or not r["current_genre"]) and r["confidence"] >= min_confidence
            and r["predicted"] != r["current_genre"]]
    log = _undo_log(result.out)
    return write_genres([GenreWrite(result.library.root / r["file"], r["predicted"]) for r in rows], log,
                        overwrite=overwrite), log


def _undo_log(out: str | os.PathLike) -> Path:
    """A new undo log's path in ``out``, named by the time of the writing."""
    return Path(out) / f"undo-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def apply_review(reviewed: str | os.PathLike, root: str | os.PathLike, out: str | os.PathLike, *,
                 overwrite: bool = False) -> tuple[WriteReport, Path]:
    """Write the genres a person chose on the review page: ``reviewed`` holds ``file,genre`` rows,
    files relative to the library ``root`` (one outside it is refused, by name). The undo log
    goes to ``out/undo-TIME.jsonl``; a file that has a genre keeps it unless ``overwrite``."""
    base = Path(root).expanduser().resolve()
    try:
        rows = list(csv.DictReader(Path(reviewed).read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise ParameterError(f"--apply {reviewed}: {exc.strerror or exc}") from None
    if rows and set(rows[0]) != {"file", "genre"}:
        raise ParameterError(f"--apply {reviewed}: want the columns file,genre (the review page's), got {list(rows[0])}")
    writes = []
    for r in rows:
        path = (base / r["file"]).resolve()
        if not path.is_relative_to(base):
            raise ParameterError(f"--apply {reviewed}: {r['file']} lies outside the library {base}")
        if r["genre"].strip():
            writes.append(GenreWrite(path, r["genre"].strip()))
    log = _undo_log(out)
    return write_genres(writes, log, overwrite=overwrite), log
