"""The graph of ``graham tag``: a library's tracks as nodes, the audio kNN graph and the album and
artist relations as edges; the relation-aware GrahAM GNN trained on the tagged tracks, then
correct & smooth over both kinds of edge; and the evidence a person reads beside each guess."""

from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np
import torch

from ..data.library import Library
from ..nn.gnn import GNNConfig
from ..nn.graphs import Graph, build_graph
from ..nn.propagate import SmoothConfig, correct_and_smooth, graph_coordinates, normalise_scores
from ..presets import gnn_train_config
from ..train.gnn import known_labels, train_gnn

__all__ = ["LIBRARY_GNN", "LIBRARY_SMOOTH", "predict_library"]

#: The GNN of a library: the cpu preset's kNN graph over the embeddings alone (a track is
#: embedded from excerpts: no whole-clip band statistics). Its relation-aware layer
#: (``relations=("album", "artist")``) is left off: on the development library (30 % of the
#: tracks tagged, 15 draws) it scored 3.2 ± 1.1 points below the audio graph alone, its
#: relation terms learned from a few dozen tagged tracks (benchmarks/README.md, "Library").
LIBRARY_GNN = GNNConfig(graph="knn", k=10, band_statistics=False, smooth=True)

#: The relations correct & smooth spreads the tagged tracks' labels over, after the GNN and
#: without the audio kNN, which the GNN has read: nothing learned, so nothing to overfit
#: (+1.5 points over smoothing on the audio kNN, same draws).
LIBRARY_SMOOTH = ("album", "artist")


def predict_library(lib: Library, emb: np.ndarray, *, config: GNNConfig = LIBRARY_GNN, seed: int = 0,
                    device: str | None = None, smooth_relations: tuple[str, ...] | None = LIBRARY_SMOOTH,
                    smooth_audio: bool = False) -> list[dict]:
    """A row of ``tags.csv`` for every track: its current genre, the predicted one, the
    confidence (the smoothed score of that genre, 0-1) and the evidence. Labels come from the
    tagged tracks alone (``lib.genres``); the relations are inputs, never labels. ``config``:
    the GNN (its ``relations`` among album and artist; none: the audio graph alone); with its
    ``smooth``, correct & smooth follows over the relations ``smooth_relations`` (None: the
    GNN's) and, with ``smooth_audio``, the audio kNN too."""
    classes = lib.classes
    labels = np.array([classes.index(g) if g else -1 for g in lib.genres], dtype=np.int64)
    labelled = np.flatnonzero(labels >= 0)
    rel = lib.relations()
    edges = {r: torch.as_tensor(rel.edges[r]) for r in ("album", "artist")}
    emb_t = torch.as_tensor(emb, dtype=torch.float32)
    cfg = GNNConfig.from_dict({**config.to_dict(), "k": min(config.k, max(1, len(emb) - 1))})
    graph = Graph(edge_index=build_graph("knn", emb_t, k=cfg.k).edge_index,
                  relations=tuple(edges[r] for r in cfg.relations))
    res = train_gnn(emb, labels, labelled, len(classes), config=cfg, train=gnn_train_config("cpu", seed=seed),
                    graph=graph, device=device)
    assert res.mean is not None and res.scale is not None
    xs = torch.as_tensor((emb - res.mean) / res.scale, dtype=torch.float32)
    known = known_labels(labels, labelled, len(labels)) if cfg.label_input else None
    with torch.no_grad():
        proba = torch.softmax(res.model.cpu()(xs, graph, labels=known), 1)
    if cfg.smooth:
        coords = graph_coordinates(emb_t, torch.as_tensor(res.mean), torch.as_tensor(res.scale))
        related = [edges[r] for r in (cfg.relations if smooth_relations is None else smooth_relations)]
        proba = normalise_scores(correct_and_smooth(proba, coords.float(), torch.as_tensor(labels[labelled]),
                                                    torch.as_tensor(labelled), SmoothConfig(k=cfg.k),
                                                    relation_edges=torch.cat(related, dim=1) if related else None,
                                                    audio_knn=smooth_audio))
    scores = proba.numpy()
    return _rows(lib, scores, labels, labelled, emb, rel.edges)


def _neighbours(edges: np.ndarray, n: int) -> list[np.ndarray]:
    """Each node's sources in an edge list [shape=(2, E)], by one sort."""
    order = np.argsort(edges[1], kind="stable")
    return np.split(edges[0][order], np.cumsum(np.bincount(edges[1], minlength=n))[:-1])


def _vote(mates: np.ndarray, labels: np.ndarray, classes: list[str]) -> str:
    """The genres of a track's tagged neighbours in one relation: "rock 3/4" (the commonest, of
    how many), or "" where none is tagged."""
    tagged = [classes[labels[j]] for j in mates if labels[j] >= 0]
    if not tagged:
        return ""
    genre, n = Counter(tagged).most_common(1)[0]
    return f"{genre} {n}/{len(tagged)}"


def _nearest_tagged(unit: np.ndarray, labelled: np.ndarray, k: int = 3, chunk: int = 4096) -> np.ndarray:
    """For every track, its ``k`` most cosine-similar tagged tracks other than itself, from the
    tracks' unit embeddings ``unit``: [shape=(N, k)] indices into the tracks, -1 where there are
    fewer; in chunks of rows."""
    ref = unit[labelled]
    out = np.full((len(unit), k), -1, dtype=np.int64)
    for s in range(0, len(unit), chunk):
        sims = unit[s:s + chunk] @ ref.T
        sims[labelled[None, :] == np.arange(s, s + len(sims))[:, None]] = -np.inf  # not itself
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        ok = np.take_along_axis(sims, top, 1) > -np.inf
        out[s:s + chunk][:, :top.shape[1]] = np.where(ok, labelled[top], -1)
    return out


def _rows(lib: Library, scores: np.ndarray, labels: np.ndarray, labelled: np.ndarray, emb: np.ndarray,
          edges: Mapping[str, np.ndarray]) -> list[dict]:
    classes, n = lib.classes, len(lib.tracks)
    files = [t.path.relative_to(lib.root).as_posix() for t in lib.tracks]
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    near = _nearest_tagged(unit, labelled)
    album, artist = _neighbours(edges["album"], n), _neighbours(edges["artist"], n)
    rows = []
    for i in range(n):
        best = int(np.argmax(scores[i]))
        evidence = [f"{files[j]} ({classes[labels[j]]}, {float(unit[i] @ unit[j]):.2f})" for j in near[i] if j >= 0]
        rows.append({"file": files[i], "current_genre": lib.tracks[i].genre, "predicted": classes[best],
                     "confidence": round(float(scores[i, best]), 4), "nearest_tagged": "; ".join(evidence),
                     "album_vote": _vote(album[i], labels, classes), "artist_vote": _vote(artist[i], labels, classes)})
    return rows
