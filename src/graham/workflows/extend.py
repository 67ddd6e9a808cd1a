"""A bundle with more reference clips, for a new genre or more examples of an old one, without
retraining the Siamese network: the new clips are embedded by the bundle's frozen backbone
(the mean over windows, as every reference clip was), join the reference nodes with their
labels, and only the graph part is refit: the GNN over the enlarged reference graph (its
settings, training recipe and seed as the bundle's) and with it correct & smooth. A metric
embedding places a class it never trained on from a few examples; the graph spreads them.

This is the one door from inference into training code (the GNN's training loop): ``predict``
and ``serve`` import it only when asked to extend.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from ..errors import AudioError, GrahamError, ParameterError
from ..inference.bundle import Bundle, load_bundle
from ..inference.frontend import FrontEnd
from ..nn.gnn import GrahamGNN
from ..nn.graphs import build_graph
from ..nn.node_features import node_features
from ..presets import GNNTrainConfig, gnn_train_config
from ..train.gnn import train_gnn

__all__ = ["ExtendResult", "extend_bundle", "extend_bundle_files", "parse_additions"]

#: Epochs of the refit. It starts from the bundle's trained GNN (the new classes' output rows
#: fresh) and keeps its feature standardisation, so it adjusts rather than learns anew; a
#: tenth of a full training keeps a bundle of 300 reference clips within seconds on the CPU.
REFIT_EPOCHS = 100


@dataclasses.dataclass
class ExtendResult:
    """What :func:`extend_bundle_files` did: the new bundle, its folder, the clips added per
    label, the files skipped (each with its reason) and the seconds the refit took."""

    bundle: Bundle
    out: Path | None
    added: dict[str, int]
    skipped: list[AudioError]
    seconds: float


def parse_additions(items: Sequence[str]) -> dict[str, list[Path]]:
    """``LABEL=PATH`` items (a file or a folder of audio files) -> label -> files. A label whose
    paths hold no audio file is a :class:`ParameterError` naming it."""
    from ..audio.decode import AUDIO_EXTENSIONS

    out: dict[str, list[Path]] = {}
    for item in items:
        label, sep, path = item.partition("=")
        label = label.strip()
        if not sep or not label or not path.strip():
            raise ParameterError(f"--add takes LABEL=PATH (a file or a folder of audio), got {item!r}")
        p = Path(path.strip()).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.exists():
            files = [p]
        else:
            raise ParameterError(f"--add {label}: {p} does not exist")
        out.setdefault(label, []).extend(files)
    empty = [label for label, files in out.items() if not files]
    if empty:
        raise ParameterError(f"--add: no audio files for label {', '.join(map(repr, empty))}")
    return out


def _training_recipe(bundle: Bundle, seed: int | None) -> GNNTrainConfig:
    """The GNN training recipe the bundle was made with (its info; older bundles: the ``cpu``
    preset's), with ``seed`` when given."""
    saved = bundle.info.get("gnn_training")
    cfg = GNNTrainConfig(**saved) if isinstance(saved, dict) else gnn_train_config("cpu")
    # balanced: the classes added are a handful of clips beside dozens of each old one; fewer
    # epochs: the refit starts from the bundle's GNN, not from scratch
    return dataclasses.replace(cfg, seed=cfg.seed if seed is None else int(seed), balanced=True,
                               epochs=min(cfg.epochs, REFIT_EPOCHS), val_fraction=0.0, patience=None)


def _imprinted(bundle: Bundle, x: np.ndarray, labels: np.ndarray, graph, n_classes: int, config) -> GrahamGNN:
    """The bundle's GNN with a classifier of ``n_classes`` rows: the old rows as they are; each
    new class's row imprinted (Qi et al., "Low-shot learning with imprinted weights", CVPR 2018):
    the mean of its nodes' unit hidden states on the enlarged graph, scaled to the old rows' mean
    norm, its bias the old biases' mean. A new class then starts where its examples lie, and the
    short refit adjusts rather than finds it."""
    old = bundle.gnn
    model = GrahamGNN(x.shape[1], n_classes, config)
    own = model.state_dict()
    for k, v in old.state_dict().items():
        if k.startswith("classifier."):
            own[k][: v.shape[0]] = v
        else:
            own[k] = v.clone()
    model.load_state_dict(own)
    n_old = old.classifier.weight.shape[0]
    if n_classes > n_old:
        xs = torch.as_tensor((x - bundle.mean) / bundle.scale, dtype=torch.float32)
        with torch.no_grad():
            _, hidden = old.eval()(xs, graph, labels=None, return_hidden=True)
            w = old.classifier.weight
            norm, bias = w.norm(dim=1).mean(), old.classifier.bias.mean()
            unit = torch.nn.functional.normalize(hidden, dim=1)
            for c in range(n_old, n_classes):
                rows = torch.as_tensor(np.flatnonzero(labels == c))
                model.classifier.weight[c] = torch.nn.functional.normalize(unit[rows].mean(0), dim=0) * norm
                model.classifier.bias[c] = bias
    return model


def extend_bundle(bundle: Bundle, add: Mapping[str, Sequence], *, ids: Mapping[str, Sequence[str]] | None = None,
                  seed: int | None = None, device: str | None = None) -> Bundle:
    """A new :class:`Bundle`: ``bundle`` with the clips of ``add`` (label -> files or log-mels)
    as labelled reference nodes, new labels as new classes after the old ones, and the GNN
    refit over the enlarged reference graph. ``ids`` name the clips (label -> ids; default:
    the file paths, or ``LABEL/added-N``). Nothing to add returns ``bundle`` itself, unchanged.
    ``bundle`` is never modified."""
    add = {str(k): list(v) for k, v in add.items() if len(v)}
    if not add:
        return bundle
    if bundle.gnn_config.label_input:
        raise ParameterError("this bundle's GNN reads labels as inputs (label_input): its input grows with the "
                             "classes, so it cannot be extended; train it again with the new genre")
    from ..utils.devices import resolve_device

    dev = resolve_device(device)
    cfg = bundle.gnn_config
    new_classes = [c for c in add if c not in bundle.classes]
    if new_classes and cfg.smooth:
        # Correct & smooth spreads labels along the embedding's kNN graph, which the Siamese network
        # made homophilous for the classes it trained on only: a genre it never saw has other genres'
        # clips for neighbours, and smoothing drowned it (held-out genres of the development set:
        # recall 0-7 % with it, 30-86 % without, the other genres unchanged). A bundle with a class
        # added after training keeps the GNN's own probabilities.
        cfg = dataclasses.replace(cfg, smooth=False)
    classes = list(bundle.classes) + [c for c in add if c not in bundle.classes]
    emb, stats, labels, names = _embedded(bundle, add, ids, classes, band_statistics=cfg.band_statistics, device=dev)
    reference = np.concatenate([bundle.reference, emb])
    ref_labels = np.concatenate([bundle.reference_labels, labels])
    ref_stats = None
    if cfg.band_statistics:
        assert bundle.reference_stats is not None and stats is not None
        ref_stats = np.concatenate([bundle.reference_stats, stats])
    old_ids = bundle.reference_ids or [f"reference {i}" for i in range(len(bundle.reference))]
    x = node_features(reference, ref_stats)
    head = bundle.siamese.head.to(dev).eval()
    with torch.no_grad():
        graph = build_graph(cfg.graph, torch.as_tensor(reference, dtype=torch.float32, device=dev), k=cfg.k,
                            head=head).to("cpu")
    labelled = np.flatnonzero(ref_labels >= 0)
    start = _imprinted(bundle, x, ref_labels, graph, len(classes), cfg)
    res = train_gnn(x, ref_labels, labelled, len(classes), config=cfg, train=_training_recipe(bundle, seed),
                    graph=graph, device=device, init=start, standardisation=(bundle.mean, bundle.scale))
    gnn = res.model.cpu().eval()
    added = {label: len(clips) for label, clips in add.items()}
    info = {**bundle.info, "extended": list(bundle.info.get("extended", [])) + [added]}
    if cfg.smooth != bundle.gnn_config.smooth:
        info["smooth_off"] = f"correct & smooth off: {', '.join(new_classes)} added after the Siamese network trained"
    return dataclasses.replace(bundle, classes=classes, gnn_config=cfg, gnn=gnn, mean=res.mean, scale=res.scale,
                               reference=reference, reference_labels=ref_labels, reference_stats=ref_stats,
                               reference_ids=list(old_ids) + names, info=info)


def _embedded(bundle: Bundle, add: Mapping[str, Sequence], ids: Mapping[str, Sequence[str]] | None,
              classes: list[str], *, band_statistics: bool,
              device: torch.device) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, list[str]]:
    """The clips to add as reference nodes: their embeddings (the mean over windows, by the
    bundle's frozen backbone) [shape=(n, 128)], band statistics [shape=(n, 3 n_mels)] when the
    GNN reads them, class indices in ``classes`` and ids (``ids``, else the file paths, or
    ``LABEL/added-N`` for log-mels)."""
    front = FrontEnd(bundle.mel, bundle.siamese, crop_frames=bundle.siamese_config.crop_frames, device=device,
                     band_statistics=band_statistics)
    emb, stats, labels, names = [], [], [], []
    for label, clips in add.items():
        given = list((ids or {}).get(label, []))
        for j, clip in enumerate(clips):
            mel = np.asarray(clip, dtype=np.float32) if isinstance(clip, np.ndarray) else front.mel(clip)
            if mel.ndim != 2 or mel.shape[0] != bundle.mel.n_mels:
                raise ParameterError(f"a log-mel to add must be (n_mels={bundle.mel.n_mels}, frames), got {mel.shape}")
            emb.append(front.window_embeddings(mel)[0].mean(0))
            st = front.clip_statistics(mel)
            if st is not None:
                stats.append(st.cpu().numpy())
            labels.append(classes.index(label))
            names.append(given[j] if j < len(given) else (str(clip) if not isinstance(clip, np.ndarray)
                                                          else f"{label}/added-{j}"))
    return (np.stack(emb).astype(np.float32), np.stack(stats).astype(np.float32) if stats else None,
            np.asarray(labels, dtype=np.int64), names)


def extend_bundle_files(bundle_dir: str | os.PathLike, add: Mapping[str, Sequence[str | os.PathLike]], *,
                        out: str | os.PathLike | None = None, in_place: bool = False, seed: int | None = None,
                        device: str | None = None, on_skip: Callable[[AudioError], None] | None = None) -> ExtendResult:
    """``graham extend``: a bundle folder with more labelled reference clips, written anew.

    Parameters
    ----------
    bundle_dir : str or os.PathLike
        The bundle folder.
    add : Mapping[str, Sequence[str or os.PathLike]]
        Label -> audio files (a new genre, or more of one the bundle has).
    out : str or os.PathLike, optional
        The new bundle's folder.
    in_place : bool
        Write over ``bundle_dir`` instead (each file replaced atomically, config.json last).
    seed : int, optional
        Seed of the refit (default: the bundle's).
    device : str, optional
        Where the refit runs.
    on_skip : callable, optional
        Hears each file that cannot be read (it is skipped).

    Returns
    -------
    ExtendResult

    Raises
    ------
    ParameterError
        Neither ``out`` nor ``in_place``; ``out`` is the bundle itself without ``in_place``.
    GrahamError
        A label is left with no readable file (nothing is written).

    Examples
    --------
    >>> from graham.workflows.extend import extend_bundle_files
    >>> res = extend_bundle_files(bundle, {"bossa": [song]}, out=f"{tmp}/bigger")
    >>> res.added, res.bundle.classes[-1], res.out.name
    ({'bossa': 1}, 'bossa', 'bigger')
    """
    src = Path(bundle_dir).expanduser()
    if out is None and not in_place:
        raise ParameterError("say where the extended bundle goes (--out DIR), or --in-place to replace the old one")
    dest = src if out is None else Path(out).expanduser()
    if dest.resolve() == src.resolve() and not in_place:
        raise ParameterError(f"--out {dest} is the bundle itself: pass --in-place to modify it")
    bundle = load_bundle(src)
    t0 = time.perf_counter()
    front = FrontEnd(bundle.mel, bundle.siamese, crop_frames=bundle.siamese_config.crop_frames,
                     device=torch.device("cpu"), band_statistics=False)
    mels: dict[str, list[np.ndarray]] = {}
    ids: dict[str, list[str]] = {}
    skipped: list[AudioError] = []
    for label, files in add.items():
        for f in files:
            try:
                mels.setdefault(label, []).append(front.mel(f))
                ids.setdefault(label, []).append(str(f))
            except (AudioError, OSError) as exc:
                err = exc if isinstance(exc, AudioError) else AudioError(f, f"cannot read ({exc})")
                skipped.append(err)
                if on_skip is not None:
                    on_skip(err)
    empty = [label for label in add if not mels.get(label)]
    if empty:
        raise GrahamError(f"no readable audio for label {', '.join(map(repr, empty))}; nothing was written")
    new = extend_bundle(bundle, mels, ids=ids, seed=seed, device=device)
    seconds = time.perf_counter() - t0
    new.save(dest)
    return ExtendResult(new, dest, {k: len(v) for k, v in mels.items()}, skipped, seconds)
