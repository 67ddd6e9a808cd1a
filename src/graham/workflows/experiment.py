"""``graham experiment``: the paper's Table 1 (every method over seeds, folds and labelled
fractions), resumable run by run, written as tables, JSON and figures."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ParameterError
from ..evaluate.protocol import ExperimentResult, ProtocolConfig, RunResult, run_protocol
from ..utils.changes import setting_changes
from ..utils.files import writable_folder, write_json, write_text
from ..utils.provenance import code_version
from .features import Prepared, prepare
from .requests import DataSource, ModelSettings

__all__ = ["run_experiment"]


def run_experiment(source: DataSource, out: str | Path, config: ProtocolConfig, settings: ModelSettings | None = None,
                   *, resume: bool = False, known_runs: Mapping[str, RunResult] | None = None, progress: bool = True,
                   notify: Callable[[str], None] | None = None) -> ExperimentResult:
    """The Table 1 protocol on a data set.

    Writes ``table.md``, ``table.csv``, ``results.json`` and one confusion-matrix PNG per run
    and method under ``out``. Each run's result is saved as soon as it is done
    (``out/runs/*.json``).

    Parameters
    ----------
    source : DataSource
        The data set.
    out : str or Path
        The experiment's folder.
    config : ProtocolConfig
        Protocol, seeds, fractions, folds, mode and methods. Protocol ``auto`` is grouped
        k-fold on a corpus with groups of several clips, else the paper's random split.
    settings : ModelSettings, optional
        Every training setting (the protocol seeds them per run); None: the ``cpu`` preset.
    resume : bool
        Reuse the finished runs of an interrupted experiment with the same settings.
    known_runs : Mapping[str, RunResult], optional
        Results the caller already has for these very settings, by
        :func:`~graham.evaluate.protocol.run_key` (the demo's training run).
    progress : bool
        Show progress bars.
    notify : callable, optional
        ``notify(line)`` hears the protocol chosen and any leakage first.

    Returns
    -------
    ExperimentResult

    Examples
    --------
    The log-mel baseline alone (no network to train), grouped 2-fold, one seed:

    >>> from graham.evaluate.protocol import ProtocolConfig
    >>> from graham.workflows.experiment import run_experiment
    >>> from graham.workflows.requests import DataSource
    >>> cfg = ProtocolConfig(protocol="kfold", k=2, seeds=(0,), fractions=(1.0,), methods=("mel_floor",))
    >>> res = run_experiment(DataSource("synthetic:2x3"), f"{tmp}/exp", cfg, progress=False)
    >>> len(res.runs), [row["method"] for row in res.table()]
    (2, ['Log-mel stats + LR'])
    """
    from ..report.experiment_figures import write_experiment_figures

    out = writable_folder(out)  # a file, or a read-only place: say so before any work
    prep = prepare(source, progress=progress)
    settings = settings or ModelSettings.from_preset("cpu")
    runs_dir = out / "runs"
    done = _finished_runs(runs_dir, _settings_doc(source, config, settings, prep), resume, known_runs or {})
    res = run_protocol(prep.mels, prep.corpus.targets(), prep.corpus.classes, config, groups=prep.corpus.groups,
                       splits=[c.split for c in prep.corpus], siamese=settings.siamese, gnn=settings.gnn,
                       gnn_train=settings.gnn_train, device=settings.device, progress=progress, done=done,
                       notify=notify, on_run=lambda key, run: write_json(runs_dir / f"{key}.json", asdict(run)))
    res.skipped = list(prep.run.skipped)
    res.excluded = list(prep.excluded)
    _write_tables(res, out, source, prep, settings)
    write_experiment_figures(res, out, title=f"{prep.corpus.name}: test balanced accuracy")
    return res


def _settings_doc(source: DataSource, config: ProtocolConfig, settings: ModelSettings, prep: Prepared) -> dict:
    """What a resume compares: every setting, and the clip list's length and hash (not the
    list: a million ids are many MB)."""
    ids = prep.corpus.clip_ids
    digest = hashlib.sha256("\0".join(ids).encode("utf-8", "surrogatepass")).hexdigest()
    doc = {"dataset": source.spec, "protocol": asdict(config), "siamese": settings.siamese.to_dict(),
           "gnn": settings.gnn.to_dict(), "gnn_train": asdict(settings.gnn_train),
           "clips": {"count": len(ids), "sha256": digest}}
    return json.loads(json.dumps(doc))


def _finished_runs(runs_dir: Path, settings: dict, resume: bool, known: Mapping[str, RunResult]) -> dict:
    """The runs already done: with ``resume``, those saved under ``runs_dir`` by an experiment
    with the same ``settings`` (other settings are refused, by name); and ``known``."""
    done = {}
    if resume and (runs_dir / "settings.json").exists():
        changes = setting_changes(json.loads((runs_dir / "settings.json").read_text()), settings)
        if changes:
            raise ParameterError(f"{runs_dir} holds runs with other settings ({'; '.join(changes[:5])}); resume with "
                                 "the same settings, or use another --out")
        for f in runs_dir.glob("seed*.json"):
            done[f.stem] = RunResult(**json.loads(f.read_text()))
    for key, run in known.items():
        done[key] = run
        write_json(runs_dir / f"{key}.json", asdict(run))
    write_json(runs_dir / "settings.json", settings)
    return done


def _write_tables(res: ExperimentResult, out: Path, source: DataSource, prep: Prepared,
                  settings: ModelSettings) -> None:
    import torch

    header = (f"# {prep.corpus.name}\n\nProtocol: {res.describe()}\n\nWhy this protocol: {res.protocol_why}.\n\n"
              f"GrahAM: {settings.gnn.describe()}.\n\n")
    paired = res.paired_markdown()
    write_text(out / "table.md", header + res.markdown() + "\n" + (f"\n{paired}\n" if paired else ""))
    write_text(out / "table.csv", res.csv())
    doc = res.to_dict()
    doc.update({"dataset": source.spec, "corpus": prep.corpus.name, "code": code_version(),
                "threads": torch.get_num_threads(), "skipped": [str(s) for s in prep.run.skipped],
                "excluded": [{"path": s.path, "reason": s.reason} for s in prep.excluded]})
    write_json(out / "results.json", doc)
