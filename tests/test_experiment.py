import json

import numpy as np
import pytest
from typer.testing import CliRunner

from graham.cli import app
from graham.evaluate.methods import METHOD_NAMES
from graham.evaluate.protocol import ProtocolConfig
from graham.presets import GNNTrainConfig
from graham.workflows.experiment import run_experiment
from graham.workflows.requests import DataSource

from tiny import settings, tiny_siamese

runner = CliRunner()


def test_run_experiment_writes_tables_and_confusions(tmp_path):
    cfg = ProtocolConfig(seeds=(0, 1), fractions=(0.5, 1.0))
    res = run_experiment(DataSource("synthetic:4x2", cache=tmp_path / "feat"), tmp_path, cfg,
                         settings(tiny_siamese(epochs=1), gnn_epochs=10), progress=False)
    assert len(res.runs) == 4 and {r.n_test for r in res.runs} == {12}
    table = res.table()
    six = ("GrahAM (GNN)", "Random Forest", "2-layer NN", "Label spreading", "Supervised CNN", "Log-mel stats + LR")
    assert {(r["fraction"], r["method"]) for r in table} == {(f, m) for f in (0.5, 1.0) for m in six}
    assert all(r["runs"] == 2 and 0 <= r["accuracy_mean"] <= 1 for r in table)
    md = (tmp_path / "table.md").read_text()
    assert "stratified random 70%:30%" in md and "| 50% | GrahAM (GNN) |" in md
    assert (tmp_path / "table.csv").read_text().startswith("fraction,method,runs,accuracy_mean,accuracy_std,"
                                                           "balanced_accuracy_mean")
    assert "balanced accuracy (%)" in md
    doc = json.loads((tmp_path / "results.json").read_text())
    # Each row's balanced accuracy is scikit-learn's on the runs' own predictions, averaged.
    from sklearn.metrics import balanced_accuracy_score

    from graham.evaluate.splits import make_splits

    labels = np.asarray(res.last_labels)
    key_of = {title: key for key, title in METHOD_NAMES.items()}
    for row in table:
        want = []
        for run in (r for r in res.runs if r.fraction == row["fraction"]):
            split = next(s for s in make_splits("random", labels, seed=run.seed) if s.name == run.split)
            want.append(balanced_accuracy_score(labels[split.test], run.metrics[key_of[row["method"]]]["predicted"]))
        assert row["balanced_accuracy_mean"] == pytest.approx(np.mean(want))
        assert row["balanced_accuracy_std"] == pytest.approx(np.std(want))
    assert doc["config"]["mode"] == "transductive" and len(doc["runs"]) == 4
    assert len(list((tmp_path / "confusion").glob("*.png"))) == 4 * 6
    cm = np.array(doc["runs"][0]["metrics"]["grahams_gnn"]["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == 12


def test_inductive_grouped_protocol(tmp_path):
    cfg = ProtocolConfig(protocol="kfold", k=3, seeds=(0,), fractions=(1.0,), mode="inductive")
    res = run_experiment(DataSource("synthetic:3x2", cache=tmp_path / "feat"), tmp_path, cfg,
                         settings(tiny_siamese(epochs=1), gnn_epochs=5), progress=False)
    assert len(res.runs) == 3 and sum(r.n_test for r in res.runs) == 30
    assert "inductive" in json.loads((tmp_path / "results.json").read_text())["protocol"]
    md = (tmp_path / "table.md").read_text()
    assert "stratified 3-fold" in md and "grouped" not in md  # every clip its own group: not called grouped
    # One seed but three folds: a spread; with one run there would be none to show.
    assert "±" in md
    single = run_experiment(DataSource("synthetic:3x2", cache=tmp_path / "feat"), tmp_path / "one",
                            ProtocolConfig(seeds=(0,), fractions=(1.0,), methods=("mel_floor",)), progress=False)
    assert "±" not in single.markdown() and len(single.runs) == 1


def test_experiment_and_train_commands(tmp_path):
    res = runner.invoke(app, ["experiment", "synthetic:3x2", "--out", str(tmp_path / "exp"), "--seed", "0",
                              "--fraction", "1.0", "--epochs", "1", "--gnn-epochs", "5"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "exp" / "table.md").exists() and "| 100% | Random Forest |" in res.output
    assert "siamese epoch 1/1: loss" in res.output  # each run's epochs are shown, not only with -v
    res = runner.invoke(app, ["train", "synthetic:3x2", "--out", str(tmp_path / "run"), "--epochs", "1",
                              "--gnn-epochs", "5", "--no-report", "--no-band-statistics", "--label-input"])
    assert res.exit_code == 0, res.output
    assert "GrahAM (GNN)" in res.output and (tmp_path / "run" / "bundle" / "config.json").exists()
    gnn_cfg = json.loads((tmp_path / "run" / "bundle" / "config.json").read_text())["gnn"]
    assert gnn_cfg["band_statistics"] is False and gnn_cfg["label_input"] is True  # the options reach the bundle
    res = runner.invoke(app, ["embed", "synthetic:3x2", "--model", str(tmp_path / "run" / "bundle"),
                              "--out", str(tmp_path / "emb.safetensors")])
    assert res.exit_code == 0 and "30 embeddings of 128 dimensions" in res.output
    res = runner.invoke(app, ["train-siamese", "synthetic:3x2", "--out", str(tmp_path / "sia"), "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "sia" / "last.safetensors").exists() and (tmp_path / "sia" / "split.json").exists()
    res = runner.invoke(app, ["embed", "synthetic:3x2", "--model", str(tmp_path / "sia" / "best.safetensors"),
                              "--out", str(tmp_path / "emb2.safetensors")])
    assert res.exit_code == 0 and "30 embeddings of 128 dimensions" in res.output, res.output
    from graham.data import open_dataset
    clip = open_dataset("synthetic:3x2").clips[0].path
    res = runner.invoke(app, ["explain", str(tmp_path / "run" / "bundle"), str(clip), str(clip), "--out",
                              str(tmp_path / "cam")])
    assert res.exit_code == 0, res.output
    # the same file twice: two maps (the second named <name>-2) and their mean
    assert len(list((tmp_path / "cam").glob("gradcam_*.png"))) == 3
    assert (tmp_path / "cam" / f"gradcam_{clip.stem}-2.png").exists()


def test_kfold_is_refused_by_train(tmp_path):
    res = runner.invoke(app, ["train", "synthetic:3x2", "--out", str(tmp_path), "--protocol", "kfold"])
    assert res.exit_code == 2 and "one split" in res.output
    res = runner.invoke(app, ["train-siamese", "synthetic:3x2", "--out", str(tmp_path), "--protocol", "kfold"])
    assert res.exit_code == 2 and "one split" in res.output and "Traceback" not in res.output


def test_experiment_resumes_from_saved_runs(tmp_path, monkeypatch):
    import graham.evaluate.protocol as protocol

    cfg = ProtocolConfig(seeds=(0,), fractions=(0.5, 1.0))
    source, kw = DataSource("synthetic:3x2", cache=tmp_path / "feat"), dict(settings=settings(tiny_siamese(epochs=1),
                                                                                         gnn_epochs=5), progress=False)
    calls = []
    real = protocol.score_run

    def failing_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill in the middle of the second run
        return real(*a, **k)

    monkeypatch.setattr(protocol, "score_run", failing_second)
    try:
        run_experiment(source, tmp_path / "exp", cfg, **kw)
    except KeyboardInterrupt:
        pass
    assert len(list((tmp_path / "exp" / "runs").glob("seed*.json"))) == 1
    calls.clear()
    monkeypatch.setattr(protocol, "score_run", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    res = run_experiment(source, tmp_path / "exp", cfg, resume=True, **kw)
    assert len(calls) == 1 and len(res.runs) == 2  # only the unfinished run ran again
    import pytest

    from graham.errors import ParameterError
    with pytest.raises(ParameterError, match="other settings"):
        run_experiment(source, tmp_path / "exp", ProtocolConfig(seeds=(1,)), resume=True, **kw)


def test_train_with_given_split_lists(tmp_path):
    from graham.synth import SynthSpec, generate_corpus

    root = generate_corpus(tmp_path / "gtzan", SynthSpec(per_genre=3, seconds=2.0, genres=("jazz", "rock", "pop")),
                           workers=1, progress=False)
    (tmp_path / "train.txt").write_text("".join(f"{g}/{g}.0000{i}.wav\n" for g in ("jazz", "rock", "pop") for i in (0, 1)))
    (tmp_path / "test.txt").write_text("jazz.00002\nrock.00002\npop.00002\n")
    res = runner.invoke(app, ["train", f"gtzan:{root}", "--out", str(tmp_path / "run"), "--protocol", "given",
                              "--split-list", f"train={tmp_path / 'train.txt'}", "--split-list",
                              f"test={tmp_path / 'test.txt'}", "--epochs", "1", "--gnn-epochs", "5", "--no-report"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert doc["protocol"]["split"].startswith("given split lists") and doc["protocol"]["test_clips"] == 3
    res = runner.invoke(app, ["train", f"gtzan:{root}", "--out", str(tmp_path / "x"), "--split-list", "dev=a.txt"])
    assert res.exit_code != 0 and "train=FILE" in res.output


def test_graph_and_method_options_reach_the_run(tmp_path):
    res = runner.invoke(app, ["experiment", "synthetic:3x2@2", "--out", str(tmp_path / "exp"), "--seed", "0",
                              "--fraction", "1.0", "--epochs", "1", "--gnn-epochs", "20", "--graph", "knn",
                              "--k-neighbours", "3", "--method", "grahams_gnn", "--method", "label_spreading",
                              "--protocol", "kfold", "--k", "2"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert {r["method"] for r in doc["table"]} == {"GrahAM (GNN)", "Label spreading"}
    assert "grouped 2-fold" in doc["protocol"]  # the artists are the groups
    settings = json.loads((tmp_path / "exp" / "runs" / "settings.json").read_text())
    assert settings["gnn"]["graph"] == "knn" and settings["gnn"]["k"] == 3
    assert ("GrahAM: GrahAM's GNN on a kNN graph (k = 3), nodes holding the Siamese embedding and the clip's log-mel "
            "band statistics, then correct & smooth over the kNN graph (k = 3).") in (tmp_path / "exp" / "table.md").read_text()
    res = runner.invoke(app, ["train", "synthetic:3x2", "--out", str(tmp_path / "run"), "--epochs", "1",
                              "--gnn-epochs", "20", "--graph", "similarity", "--method", "mel_floor", "--no-report"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(m["results"]) == {"GrahAM (GNN)", "Log-mel stats + LR", "GrahAM bundle (inductive, windowed)"}
    assert m["settings"]["gnn"]["graph"] == "similarity"
    for bad in (["--graph", "star"], ["--method", "svm"]):
        res = runner.invoke(app, ["experiment", "synthetic:3x2", "--out", str(tmp_path / "x")] + bad)
        assert res.exit_code == 2 and "error" in res.output


def _scored(mels, labels, split, labelled, classes, *, siamese, gnn, gnn_train, mode="transductive",
            methods=None):
    """One run of ``methods`` (default: all) on a given split and labelled set, settings as given."""
    from graham.evaluate.methods import DEFAULT_METHODS, RunData
    from graham.evaluate.protocol import score_run

    data = RunData(mels, np.asarray(labels), list(classes), split, np.asarray(labelled), siamese, gnn, gnn_train,
                   mode=mode, seed=siamese.seed)
    return score_run(data, methods or DEFAULT_METHODS)


def test_test_labels_reach_no_training(tmp_path):
    """Shuffling the test clips' labels changes nothing any method learns or predicts."""
    import torch

    from graham.evaluate.splits import labelled_subset, random_split
    from graham.nn.gnn import GNNConfig
    from graham.workflows.features import extract_features

    fr = extract_features(DataSource("synthetic:3x2", cache=tmp_path / "feat"), progress=False)
    mels, labels = fr.features.mels, np.asarray(fr.features.corpus.targets())
    classes = fr.features.corpus.classes
    split = random_split(labels, seed=0)
    labelled = labelled_subset(split.train, labels, 1.0, seed=0)
    shuffled = labels.copy()
    shuffled[split.test] = np.random.default_rng(1).permutation(labels[split.test])[::-1]
    assert (shuffled[split.test] != labels[split.test]).any()
    for mode in ("transductive", "inductive"):
        kw = dict(siamese=tiny_siamese(epochs=1), gnn=GNNConfig(graph="knn", k=3), mode=mode,
                  gnn_train=GNNTrainConfig(epochs=30, val_fraction=0.0, patience=None, refit=False))
        a = _scored(mels, labels, split, labelled, classes, **kw)
        b = _scored(mels, shuffled, split, labelled, classes, **kw)
        np.testing.assert_array_equal(a[1], b[1])  # embeddings
        np.testing.assert_array_equal(a[2], b[2])  # GNN hidden features of every clip
        for k, v in a[3]["grahams_gnn"].model.state_dict().items():
            assert torch.equal(v, b[3]["grahams_gnn"].model.state_dict()[k])
        assert set(a[0]) == {"grahams_gnn", "random_forest", "mlp_2layer", "label_spreading", "supervised_cnn",
                             "mel_floor"}
        for m in a[0]:  # every method predicts the same class for every test clip; only the scores differ
            assert a[0][m]["predicted"] == b[0][m]["predicted"], (mode, m)


def test_unlabelled_training_clips_lend_their_audio_to_the_embedding_but_no_label(tmp_path):
    """With the contrastive loss the unlabelled training clips' audio reaches the embedding
    (tests/test_siamese.py checks that it is drawn), yet shuffling their labels and the test
    clips' changes no embedding and no prediction: catches a pool that passes labels along."""
    from graham.evaluate.splits import labelled_subset, random_split
    from graham.nn.gnn import GNNConfig
    from graham.workflows.features import extract_features

    fr = extract_features(DataSource("synthetic:3x3", cache=tmp_path / "feat"), progress=False)
    mels, labels = fr.features.mels, np.asarray(fr.features.corpus.targets())
    classes = fr.features.corpus.classes
    split = random_split(labels, seed=0)
    labelled = labelled_subset(split.train, labels, 0.5, seed=0)
    hidden = np.setdiff1d(np.arange(len(labels)), labelled)  # unlabelled training clips and test clips
    shuffled = labels.copy()
    shuffled[hidden] = np.roll(labels[hidden], 1)
    assert (shuffled[hidden] != labels[hidden]).any()
    kw = dict(gnn=GNNConfig(graph="knn", k=3), methods=("grahams_gnn", "label_spreading"),
              gnn_train=GNNTrainConfig(epochs=30, val_fraction=0.0, patience=None, refit=False))
    with_audio = tiny_siamese(epochs=1, contrastive=1.0, contrastive_clips=6)
    a = _scored(mels, labels, split, labelled, classes, siamese=with_audio, **kw)
    b = _scored(mels, shuffled, split, labelled, classes, siamese=with_audio, **kw)
    np.testing.assert_array_equal(a[1], b[1])
    for m in a[0]:
        assert a[0][m]["predicted"] == b[0][m]["predicted"], m


def test_the_fold_count_is_checked_only_for_k_fold_and_named_as_the_option():
    from graham.errors import ParameterError

    assert ProtocolConfig(protocol="random", k=1).k == 1  # k means nothing to a random split
    with pytest.raises(ParameterError, match="--k 1: k-fold cross-validation needs at least 2 folds"):
        ProtocolConfig(protocol="kfold", k=1)
    with pytest.raises(ParameterError, match="test fraction must lie between 0 and 1"):
        ProtocolConfig(test_size=1.5)


def test_an_exclusion_list_removes_exactly_its_clips(tmp_path):
    """--exclude in every format drops exactly the listed clips before the split; the run's
    metrics and report say how many and why; an unreadable list is a one-line error (issue 22)."""
    from graham.data.exclusions import read_exclusions
    from graham.workflows.train import report_run, train_model

    (tmp_path / "ids.txt").write_text("# from listening\nrock.00000\tnear-duplicate of rock.00001\npop.00002\n")
    (tmp_path / "audit.json").write_text(json.dumps({"exclude": [
        {"clip_id": "rock.00000", "reason": "near-duplicate of rock.00001"},
        {"clip_id": "pop.00002", "reason": "suspect label: the data says disco"}, "jazz.00001"]}))
    (tmp_path / "list.json").write_text(json.dumps(["rock.00000", "pop.00002"]))
    assert read_exclusions(tmp_path / "ids.txt") == {"rock.00000": "near-duplicate of rock.00001",
                                                     "pop.00002": "listed in ids.txt"}
    assert read_exclusions(tmp_path / "list.json") == {"rock.00000": "listed in list.json",
                                                       "pop.00002": "listed in list.json"}
    exclude = read_exclusions(tmp_path / "audit.json")
    assert len(exclude) == 3 and exclude["jazz.00001"] == "listed in audit.json"

    tiny = settings(tiny_siamese(epochs=1), gnn_epochs=5)
    o = train_model(DataSource("synthetic:4x3", cache=tmp_path / "feat", exclude=exclude), tmp_path / "run", tiny,
                    progress=False, methods=("grahams_gnn",))
    everything = train_model(DataSource("synthetic:4x3", cache=tmp_path / "feat"), tmp_path / "all", tiny,
                             progress=False, methods=("grahams_gnn",))
    assert sorted(set(everything.corpus.clip_ids) - set(o.corpus.clip_ids)) == sorted(exclude)
    assert len(o.corpus) == len(everything.corpus) - 3
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert sorted(e["reason"] for e in doc["excluded"]) == sorted(exclude.values())
    html = report_run(o, explain_per_genre=0, progress=False).read_text()
    assert "3 clips were excluded before the split (--exclude): " in html
    for kind in ("1 near-duplicate", "1 suspect label", "1 listed in audit.json"):
        assert kind in html

    (tmp_path / "bad.json").write_text("{not json")
    res = runner.invoke(app, ["train", "synthetic:4x3", "--out", str(tmp_path / "x"), "--exclude",
                              str(tmp_path / "bad.json")])
    assert res.exit_code == 2 and "not valid JSON" in res.output


def _bench_accuracy():
    import importlib
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    return importlib.import_module("bench_accuracy")


def test_the_accuracy_benchmark_runs_what_experiment_runs(tmp_path):
    """Issue 31: the benchmark's tables are graham experiment's. Same corpus, protocol, seeds and
    settings: every method predicts every test clip the same in both. Catches a benchmark that
    seeds, splits, picks the labelled clips or builds its settings its own way."""

    from graham.presets import siamese_config

    bench = _bench_accuracy()
    changes = {"epochs": 1, "min_batches": 2}
    methods = ("grahams_gnn", "random_forest", "mlp_2layer", "label_spreading")
    rows = bench.run_setting("t", "synthetic:4x3@2", "auto", seeds=(0,), fractions=(0.5, 1.0), k=3, methods=methods,
                             siamese_changes=changes, out=tmp_path / "bench", features=tmp_path / "feat",
                             log=lambda line: None)
    res = run_experiment(DataSource("synthetic:4x3@2", cache=tmp_path / "feat"), tmp_path / "exp",
                         ProtocolConfig(seeds=(0,), fractions=(0.5, 1.0), k=3, methods=methods),
                         settings(siamese_config("cpu", **changes)), progress=False)
    assert res.config.protocol == "kfold" and len(res.runs) == len(rows) == 6  # auto: grouped 3-fold, as the bench
    runs = {(r.split, r.fraction): r for r in res.runs}
    for row in rows:
        run = runs[(row["split"], row["fraction"])]
        for m in methods:
            assert row["predicted"][METHOD_NAMES[m]] == run.metrics[m]["predicted"], (row["split"], m)
        assert row["code"]["version"] and set(row["settings"]) == {"siamese", "gnn", "gnn_train"}
    assert row["settings"]["siamese"]["epochs"] == 1

    # A saved run of other code is not rescored unless told.
    saved = next((tmp_path / "bench").glob("*.json"))
    doc = json.loads(saved.read_text())
    doc["code"] = {"version": "0.0.1", "commit": "0" * 40, "dirty": False}
    saved.write_text(json.dumps(doc))
    kw = dict(seeds=(0,), fractions=(0.5, 1.0), k=3, methods=methods, siamese_changes=changes, out=tmp_path / "bench",
              features=tmp_path / "feat", rescore=["random_forest"], log=lambda line: None)
    with pytest.raises(SystemExit, match="made by other code"):
        bench.run_setting("t", "synthetic:4x3@2", "auto", **kw)
    assert len(bench.run_setting("t", "synthetic:4x3@2", "auto", any_commit=True, **kw)) == 6


def test_paired_differences_are_taken_run_by_run():
    """GrahAM minus each method on the same run, in points: a mean of per-run differences (not a
    difference of means over unmatched runs), its standard error with ddof=1, and the counts."""
    from graham.evaluate.protocol import ExperimentResult, RunResult

    cfg = ProtocolConfig(protocol="kfold", seeds=(0,), fractions=(0.3,), methods=("grahams_gnn", "random_forest"))
    gnn, rf = [0.80, 0.70, 0.90, 0.60], [0.75, 0.70, 0.95, 0.50]
    res = ExperimentResult(cfg, ["a", "b"], runs=[
        RunResult(0, f"fold {k}", 0.3, 10, 5,
                  {"grahams_gnn": {"balanced_accuracy": g}, "random_forest": {"balanced_accuracy": r}}, 1.0)
        for k, (g, r) in enumerate(zip(gnn, rf))])
    (row,) = res.paired()
    d = [100 * (g - r) for g, r in zip(gnn, rf)]  # 5, 0, -5, 10
    mean = sum(d) / 4
    sem = (sum((x - mean) ** 2 for x in d) / 3) ** 0.5 / 2
    assert row["method"] == "Random Forest" and abs(row["mean"] - mean) < 1e-9 and abs(row["sem"] - sem) < 1e-9
    assert (row["wins"], row["ties"], row["losses"]) == (2, 1, 1)
    assert "| 30% | Random Forest | +2.5 ± 3.2 | 2 / 1 / 1 | 4 |" in res.paired_markdown()
