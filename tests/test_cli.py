import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from graham.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    """Every command the app registers is listed in --help, and each one's own --help works."""
    out = runner.invoke(app, ["--help"]).output
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert sorted(names) == sorted(["version", "synth", "corpus", "features", "audit", "predict", "explain", "serve",
                                    "suggest", "extend", "train-siamese", "embed", "train", "experiment", "demo",
                                    "tag"])
    for cmd in names:
        assert cmd in out, cmd
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output, cmd


def test_features_on_gtzan_names_the_corrupt_file(gtzan_dir, tmp_path):
    res = runner.invoke(app, ["features", f"gtzan:{gtzan_dir}", "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert "6 clips, 2 classes" in res.output
    assert "jazz/jazz.00054.wav" in res.output
    meta = json.loads((tmp_path / "f" / "features.json").read_text())
    assert meta["clips"] == 6 and meta["skipped"] == 1 and meta["mel"]["n_mels"] == 128
    assert "jazz.00054.wav" in (tmp_path / "f" / "skipped.txt").read_text()
    assert (tmp_path / "f" / "corpus.csv").read_text().count("\n") == 7


def test_features_counts_skipped_files_past_twenty(gtzan_dir, tmp_path):
    """Thousands of broken files must not flood the terminal: 20 named, the rest counted, all
    of them in skipped.txt."""
    for k in range(24):
        (gtzan_dir / "genres" / "rock" / f"rock.{100 + k:05d}.wav").write_bytes(b"RIFF garbage")
    res = runner.invoke(app, ["features", f"gtzan:{gtzan_dir}", "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert res.output.count("skipped: ") == 20 and "... and 5 more (all of them: " in res.output
    assert (tmp_path / "f" / "skipped.txt").read_text().count("\n") == 25


def test_bad_dataset_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["features", "mp3:/x", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown data-set kind" in res.output


def test_synth_and_corpus_commands(tmp_path):
    res = runner.invoke(app, ["synth", str(tmp_path / "s"), "--per-genre", "1", "--seconds", "0.5", "--genres", "rock",
                              "--genres", "pop", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "s").rglob("*.wav")) == ["pop.00000.wav", "rock.00000.wav"]
    res = runner.invoke(app, ["corpus", f"gtzan:{tmp_path / 's'}"])
    assert "2 clips in 2 classes" in res.output


def test_console_script_entry_point_runs():
    """One version number everywhere: pyproject.toml's is the command's and the package's."""
    import re
    from pathlib import Path

    import graham

    out = subprocess.run([sys.executable, "-m", "graham.cli", "version"], capture_output=True, text=True, check=True)
    declared = re.search(r'^version = "([^"]+)"', (Path(__file__).parent.parent / "pyproject.toml").read_text(), re.M)[1]
    assert out.stdout.strip() == declared == graham.__version__


def test_an_unusable_device_is_a_clear_error(tmp_path):
    import pytest
    import torch

    from graham.errors import ParameterError
    from graham.utils.devices import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ParameterError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no usable CUDA"):
            resolve_device("cuda")
        res = runner.invoke(app, ["train-siamese", "synthetic:3x2", "--out", str(tmp_path), "--epochs", "1",
                                  "--device", "cuda"])
        assert res.exit_code == 2 and "CUDA" in res.output and "Traceback" not in res.output


def test_bad_options_and_one_class_corpora_are_refused_up_front(tmp_path):
    res = runner.invoke(app, ["synth", "--help"])
    assert "[s]" in res.output and "[Hz]" in res.output  # units survive in help texts
    for args in (["serve", str(tmp_path), "--port", "99999"], ["predict", str(tmp_path), "x.wav", "--top-k", "0"],
                 ["train", "synthetic:3x2", "--out", str(tmp_path), "--gnn-epochs", "0"],
                 ["experiment", "synthetic:3x2", "--out", str(tmp_path), "--contrastive", "-1"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "Invalid value" in res.output, args
    # A one-genre corpus: a folder with a single label.
    from tiny import tone, write
    for i in range(4):
        write(tmp_path / "one" / "rock" / f"r{i}.wav", tone(1.0, freq=200.0 + 50 * i))
    for cmd in ("train", "train-siamese", "experiment"):
        res = runner.invoke(app, [cmd, f"folder:{tmp_path / 'one'}", "--out", str(tmp_path / cmd), "--epochs", "1"])
        assert res.exit_code == 2 and "at least two classes" in res.output, (cmd, res.output)


def test_verbose_works_after_the_subcommand_too(tmp_path):
    out = subprocess.run([sys.executable, "-m", "graham.cli", "corpus", "synthetic:1x1", "-v"], capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ, "GRAHAM_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]  # before: "No such option: -v", exit 2
    out = subprocess.run([sys.executable, "-m", "graham.cli", "version", "--verbose"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip()


@pytest.mark.parametrize("args, message", [
    (["train", "synthetic:3x2", "--method", "randomforest"], "unknown method 'randomforest'"),
    (["train", "synthetic:3x2", "--device", "mps"], "device 'mps'"),
    (["predict", "BUNDLE", "song.wav", "--device", "xla"], "device 'xla'"),
])
def test_bad_method_and_device_are_one_line_errors_before_any_work(tmp_path, args, message):
    """The real CLI in a subprocess: exit 2, one line naming the problem, no traceback, and no
    training started (no run folder written)."""
    args = [a.replace("BUNDLE", str(tmp_path / "no-bundle")) for a in args]
    out = subprocess.run([sys.executable, "-m", "graham.cli"] + args + ["--out", str(tmp_path / "run")]
                         if args[0] == "train" else [sys.executable, "-m", "graham.cli"] + args,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "GRAHAM_CACHE": str(tmp_path)})
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


def test_an_unwritable_out_and_a_malformed_bundle_are_one_line_errors(tmp_path):
    """``--out`` naming a file, or a folder that cannot be written, fails at once with exit 2
    (not after an epoch); a bundle whose config.json is JSON but not an object is a BundleError."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [(["train", "synthetic:3x2", "--out", str(blocker)], "is a file, not a folder"),
             (["experiment", "synthetic:3x2", "--out", str(blocker)], "is a file, not a folder")]
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something for a user
        cases.append((["train", "synthetic:3x2", "--out", str(locked / "run")], "cannot write there"))
    for args, message in cases:
        out = subprocess.run([sys.executable, "-m", "graham.cli"] + args, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "GRAHAM_CACHE": str(tmp_path / "cache")})
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "cache").exists()  # nothing was extracted: the check came first
    from graham.errors import BundleError
    from graham.inference.bundle import load_bundle

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("siamese.safetensors", "gnn.safetensors", "reference.safetensors"):
        (bundle / name).write_bytes(b"")
    (bundle / "config.json").write_text("[1, 2, 3]")
    with pytest.raises(BundleError, match="not an object"):
        load_bundle(bundle)


def test_train_names_every_skipped_file_and_ctrl_c_says_how_to_resume(gtzan_dir, tmp_path):
    """Every file a training left out is named on the terminal (up to 20), whether its reader or
    its decoder refused it; Ctrl-C in training says where the checkpoint is and how to go on."""
    base = gtzan_dir / "genres"
    (base / "rock" / "rock.00077.wav").write_bytes(b"")  # empty
    (base / "rock" / "rock.00078.wav").write_bytes(b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00")  # truncated header
    (base / "jazz" / "jazz.00079.flac").write_bytes(b"fLaC" + b"\x00" * 40)
    res = runner.invoke(app, ["train", f"gtzan:{gtzan_dir}", "--out", str(tmp_path / "run"), "--epochs", "1",
                              "--gnn-epochs", "5", "--method", "grahams_gnn", "--no-report",
                              "--features", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    for name in ("jazz.00054.wav", "rock.00077.wav", "rock.00078.wav", "jazz.00079.flac"):
        assert f"{name}" in res.output and res.output.count(name) == 1, name
    assert res.output.count("skipped: ") == 4

    import signal
    import time

    run = tmp_path / "run2"
    # Ctrl-C's default action: a shell's background job (`make test &`) starts with SIGINT ignored, and Python
    # installs its KeyboardInterrupt handler only where the signal is not ignored
    proc = subprocess.Popen([sys.executable, "-m", "graham.cli", "--threads", "1", "train-siamese", "synthetic:3x2",
                             "--out", str(run), "--epochs", "200"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "GRAHAM_CACHE": str(tmp_path / "cache")},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not (run / "last.safetensors").exists():
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted:" in err and "last.safetensors holds the last finished epoch" in err and "--resume" in err
    assert "Traceback" not in err


def test_argument_errors_are_found_before_torch_loads(tmp_path):
    """A typo in a data set, method, preset, protocol, graph, fraction, device, bundle or output
    folder is one line and exit 2 before torch is imported (torch, PyG and scipy take seconds
    to load): the check runs in a fresh interpreter, which then reports whether torch is loaded."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (["train", "mp3:/x", "--out", "OUT"], "unknown data-set kind"),
        (["train", "folder:/no/such/folder", "--out", "OUT"], "folder not found"),
        (["train", "synthetic", "--method", "randomforest", "--out", "OUT"], "unknown method"),
        (["train", "synthetic", "--preset", "big", "--out", "OUT"], "--preset 'big'"),
        (["train", "synthetic", "--graph", "star", "--out", "OUT"], "--graph 'star'"),
        (["train", "synthetic", "--fraction", "1.5", "--out", "OUT"], "--fraction 1.5"),
        (["train", "synthetic", "--device", "tpu", "--out", "OUT"], "device 'tpu'"),
        (["train", "synthetic", "--out", str(blocker)], "is a file, not a folder"),
        (["experiment", "synthetic", "--protocol", "loo", "--out", "OUT"], "--protocol 'loo'"),
        (["experiment", "synthetic", "--protocol", "kfold", "--k", "1", "--out", "OUT"], "--k 1"),
        (["features", "audioset:/no/table.csv", "--out", "OUT"], "table not found"),
        (["predict", str(tmp_path / "no-bundle"), "x.wav"], "bundle folder not found"),
        (["serve", str(tmp_path / "no-bundle")], "bundle folder not found"),
    ]
    script = (
        "import json, sys\n"
        "from graham.cli import app\n"
        "out = []\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        code = app(args=args, prog_name='graham', standalone_mode=False) or 0\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "    except Exception as exc:\n"
        "        code = getattr(exc, 'exit_code', repr(exc))\n"
        "    out.append(code)\n"
        "print(json.dumps({'codes': out, 'torch': 'torch' in sys.modules}))\n")
    args = [[a.replace("OUT", str(tmp_path / "run")) for a in c] for c, _ in cases]
    res = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "GRAHAM_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["codes"] == [2] * len(cases), list(zip(got["codes"], [m for _, m in cases]))
    for _, message in cases:
        assert message in res.stderr, message
    assert not got["torch"], "torch was imported before the arguments were checked"
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_the_names_table_is_what_the_code_implements():
    """graham/names.py is the one table of names; each name is one the code runs (a name added
    there without its implementation, or the other way round, fails here)."""
    import numpy as np
    import torch

    from graham import names
    from graham.data.spec import parse_dataset
    from graham.evaluate.methods import METHODS
    from graham.evaluate.splits import make_splits
    from graham.nn.graphs import build_graph
    from graham.nn.siamese import PairHead
    from graham.nn.xception import PRESETS as BACKBONES
    from graham.presets import PRESET_NAMES

    assert names.METHOD_KEYS == tuple(METHODS)
    assert names.PRESETS == PRESET_NAMES and set(names.PRESETS) == set(BACKBONES)
    labels, groups = np.repeat([0, 1], 10), np.repeat(np.arange(10), 2)
    for protocol in names.PROTOCOLS:
        assert make_splits(protocol, labels, groups=groups, splits=["train"] * 14 + ["test"] * 6, k=2)
    x = torch.randn(12, 8)
    built = {kind: build_graph(kind, x, k=3, head=PairHead(8, 4)) for kind in names.GRAPH_KINDS}
    assert set(built) == {"complete", "knn", "similarity"}
    assert built["complete"].is_complete
    knn = built["knn"].edge_index
    assert knn is not None and torch.bincount(knn[1], minlength=12).tolist() == [3] * 12  # 3 sources per clip
    sim = built["similarity"].weights
    assert sim is not None and sim.shape == (12, 12) and bool((sim.diagonal() == 0).all())
    for kind in names.DATASET_KINDS:
        assert parse_dataset(kind if kind == "synthetic" else f"{kind}:/x").kind == kind


def test_train_siamese_never_prints_nan(tmp_path):
    """On a corpus too small for validation pairs of both kinds, the last line says why there
    is no ROC-AUC instead of printing "val ROC-AUC nan"."""
    res = runner.invoke(app, ["train-siamese", "synthetic:3x2", "--out", str(tmp_path / "s"), "--epochs", "1"])
    assert res.exit_code == 0, res.output
    last = [line for line in res.output.splitlines() if line.startswith("trained on")][-1]
    import re

    assert not re.search(r"\bnan\b", last), last


def test_inference_imports_no_training_code():
    """predict, bundle, serve and explain load without any module of graham.train (device
    resolution, windows, checkpoints and the settings live below training)."""
    code = ("import sys, graham.inference.predict, graham.inference.bundle, graham.inference.serve, graham.explain.gradcam\n"
            "print(sorted(m for m in sys.modules if m.startswith('graham.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_every_config_is_frozen_and_round_trips():
    import dataclasses

    from graham.nn.gnn import GNNConfig
    from graham.presets import (
        PRESET_NAMES,
        AugmentConfig,
        GNNTrainConfig,
        SiameseConfig,
        gnn_config,
        gnn_train_config,
        siamese_config,
    )

    for preset in PRESET_NAMES:
        for cfg in (siamese_config(preset), gnn_config(preset), gnn_train_config(preset), AugmentConfig()):
            again = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) if hasattr(type(cfg), "from_dict") \
                else type(cfg)(**cfg.to_dict())
            assert again == cfg
            field = dataclasses.fields(cfg)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(cfg, field, getattr(cfg, field))
    assert siamese_config("paper").lr == 3e-4 and gnn_config("paper").graph == "complete"
    from graham.errors import ParameterError

    for cls in (SiameseConfig, GNNConfig, GNNTrainConfig):
        with pytest.raises(ParameterError, match="unknown"):
            cls.from_dict({"no_such_setting": 1})
    with pytest.raises(ParameterError, match="unknown preset"):
        gnn_config("gpu")


def test_the_contrastive_weight_reaches_the_run_and_its_record(tmp_path):
    """--contrastive sets the Siamese network's contrastive weight; metrics.json records it
    and says which clips the network learned from."""
    res = runner.invoke(app, ["train", "synthetic:3x3", "--out", str(tmp_path / "run"), "--epochs", "1",
                              "--gnn-epochs", "5", "--method", "mel_floor", "--no-report", "--fraction", "0.5",
                              "--contrastive", "0.25", "--features", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["settings"]["siamese"]["contrastive"] == 0.25
    assert "unlabelled training clips (audio alone" in m["protocol"]["siamese_trained_on"]


def _grouped_folder(root):
    """Two genres, four recordings each, three 1-s excerpts a recording: ``<genre>/<recording>/<clip>.wav``."""
    from tiny import tone, write

    for g, base in (("jazz", 220.0), ("rock", 90.0)):
        for r in range(4):
            for c in range(3):
                write(root / g / f"{g}-rec{r}" / f"{g}-rec{r}-{c}.wav", tone(1.0, freq=base * (1 + r / 4) + 7 * c))
    return root


def test_train_splits_a_grouped_folder_by_group_and_a_random_split_says_what_it_cuts(tmp_path):
    """Issue 30: on a folder whose sub-folders hold several clips, the default split is grouped
    and the first line says so; --protocol random (or paper) prints the leakage line with the
    number of groups it cuts, counted here by brute force from the bundle's training clips."""
    import graham

    root = _grouped_folder(tmp_path / "music")
    common = ["--epochs", "1", "--gnn-epochs", "5", "--method", "grahams_gnn", "--no-report", "--features",
              str(tmp_path / "f")]
    res = runner.invoke(app, ["train", f"folder:{root}", "--out", str(tmp_path / "auto")] + common)
    assert res.exit_code == 0, res.output
    first = res.stdout.splitlines()[0]
    assert first.startswith("split: grouped (no group on both sides)") and "8 groups" in first, first
    assert "leakage" not in res.stdout
    doc = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert doc["protocol"]["split"].startswith("grouped") and doc["protocol"]["leakage"] is None
    assert "8 groups" in doc["protocol"]["chosen"]

    for protocol in ("random", "paper"):
        res = runner.invoke(app, ["train", f"folder:{root}", "--out", str(tmp_path / protocol), "--protocol",
                                  protocol] + common)
        assert res.exit_code == 0, res.output
        train = set(graham.load(tmp_path / protocol / "bundle").bundle.reference_ids)
        clips = {p.relative_to(root).with_suffix("").as_posix(): p.parent.name for p in root.rglob("*.wav")}
        assert train < set(clips)
        cut = sum(1 for g in set(clips.values())
                  if any(c in train for c, h in clips.items() if h == g)
                  and any(c not in train for c, h in clips.items() if h == g))
        assert cut > 0
        lines = res.stdout.splitlines()
        assert lines[0].startswith("split: random stratified 70%:30%"), lines[0]
        assert lines[1].startswith(f"leakage: this split puts clips of {cut} of the 8 groups of several clips on "
                                   "both sides") and "optimistic" in lines[1], lines[1]
        doc = json.loads((tmp_path / protocol / "metrics.json").read_text())
        assert doc["protocol"]["leakage"] == lines[1]


def test_the_readmes_three_commands_run_on_a_folder_of_music(tmp_path):
    """Issue 28: a newcomer follows the README on a folder of their own music. Its three
    commands run as written (the folder, the run folder and the song pointed at test data):
    features, then train (a grouped split: the folder has groups), then predict a file."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Your own music in three commands"):]
    blocks = section.split("```")
    commands = [line.split("#")[0].strip() for line in blocks[3].strip().splitlines()]
    assert [c.split()[:2] for c in commands] == [["graham", "features"], ["graham", "train"], ["graham", "predict"]]
    root = _grouped_folder(tmp_path / "music")
    song = next(root.rglob("*.wav"))
    for command in commands:
        command = (command.replace("~/music", str(root)).replace("runs/", f"{tmp_path}/runs/")
                   .replace("song.mp3", str(song)))
        res = runner.invoke(app, shlex.split(command)[1:])
        assert res.exit_code == 0, (command, res.output)
    line = next(x for x in res.stdout.splitlines() if x.startswith(str(song)))  # file  (1.0 s)  genre p %  ...
    assert len(re.findall(r"(jazz|rock) +\d+\.\d %", line)) == 2  # --top-k 3 of the folder's two genres
    assert (tmp_path / "runs" / "mine" / "report.html").exists()
    doc = json.loads((tmp_path / "runs" / "mine" / "metrics.json").read_text())
    assert doc["protocol"]["split"].startswith("grouped")


def test_the_readmes_label_less_loop_runs_on_an_unlabelled_collection(tmp_path):
    """Issue 29: the README's loop as written, on a collection with no genre folders
    (``<recording>/<clip>.wav``): suggest from two labelled clips, the labels saved as the page
    saves them, train --labels; then extend the bundle with a new genre and predict with it."""
    import shlex
    from pathlib import Path

    from graham.labelling.labels_file import labels_csv, read_labels

    labelled_root = _grouped_folder(tmp_path / "sorted")
    coll = tmp_path / "collection"
    for f in labelled_root.rglob("*.wav"):  # the same audio, no genre folders: <recording>/<clip>.wav
        (coll / f.parent.name).mkdir(parents=True, exist_ok=True)
        (coll / f.parent.name / f.name).write_bytes(f.read_bytes())
    truth = {f"{f.parent.name}/{f.stem}": f.parent.parent.name for f in labelled_root.rglob("*.wav")}
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Few labels"):]
    blocks = section.split("```")
    loop = [line for line in blocks[1].strip().splitlines() if line.startswith("graham")]
    extend = [line for line in blocks[3].strip().splitlines() if line.startswith("graham")]
    assert [c.split()[:2] for c in loop + extend] == [["graham", "suggest"], ["graham", "train"],
                                                      ["graham", "extend"], ["graham", "predict"]]
    (tmp_path / "labels.csv").write_text(labels_csv({"jazz-rec0/jazz-rec0-0": "jazz", "rock-rec0/rock-rec0-0": "rock"}))

    def run(command):
        command = (command.split("#")[0].replace("~/collection", str(coll)).replace("labels.csv", str(tmp_path / "labels.csv"))
                   .replace("runs/", f"{tmp_path}/runs/").replace("--budget 20", "--budget 4"))
        tiny = ["--epochs", "2"] if command.split()[1] in ("suggest", "train") else []
        res = runner.invoke(app, shlex.split(command)[1:] + tiny)
        assert res.exit_code == 0, (command, res.output)
        return res

    run(loop[0])
    rows = (tmp_path / "runs" / "next" / "suggestions.csv").read_text().splitlines()[1:]
    picked = [r.split(",")[1] for r in rows]
    assert len(picked) == 4 and not {"jazz-rec0/jazz-rec0-0", "rock-rec0/rock-rec0-0"} & set(picked)
    assert len({p.split("/")[0] for p in picked}) >= 2  # at most two clips of one recording
    given = read_labels(tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text(labels_csv({**given, **{p: truth[p] for p in picked}}))
    res = run(loop[1])
    assert "6 labelled clips, 18 unlabelled" in res.output and "balanced accuracy" not in res.output  # audio: no truth
    assert "contrastive loss (weight 1) on every clip's audio" in res.output  # the default of train --labels
    pred = (tmp_path / "runs" / "mine" / "predictions.csv").read_text().splitlines()
    assert len(pred) == 1 + 18 and all(line.split(",")[1] in ("jazz", "rock") for line in pred[1:])
    bossa = tmp_path / "clips" / "bossa"
    from tiny import tone, write

    for i in range(5):
        write(bossa / f"b{i}.wav", tone(1.0, freq=600 + 40 * i))
    song = bossa / "b1.wav"
    run(extend[0].replace("~/clips/bossa/", str(bossa)))
    res = run(extend[1].replace("song.mp3", str(song)))
    line = next(x for x in res.stdout.splitlines() if x.startswith(str(song)))
    assert line.split(")")[1].split()[0] == "bossa", line  # the new genre first, for a copy of its example


def test_an_unlabelled_collection_is_summarised_by_its_groups(tmp_path):
    """Issue 44: `corpus audio:` said "259 clips in 1 classes ( 259)"."""
    from tiny import tone, write

    for rel in ("Album/1.wav", "Album/2.wav", "loose.wav"):
        write(tmp_path / "music" / rel, tone(1.0))
    res = runner.invoke(app, ["corpus", f"audio:{tmp_path / 'music'}"])
    assert res.exit_code == 0 and "3 unlabelled clips in 2 groups" in res.output and "classes" not in res.output


def test_the_scores_table_keeps_its_columns_whatever_the_names(capsys):
    """Issue 44: "Log-mel stats + LR" and "GrahAM bundle (inductive, windowed)" broke the columns."""
    from graham.cli.training import echo_scores

    v = {"accuracy": 0.5, "balanced_accuracy": 0.25, "macro_f1": 0.125}
    echo_scores({"GrahAM (GNN)": v, "Log-mel stats + LR": v, "GrahAM bundle (inductive, windowed)": v})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and len({line.index("accuracy") for line in lines}) == 1
    assert len({line.index("macro-F1") for line in lines}) == 1


def test_predict_names_inputs_without_audio_before_the_model_loads(trained, tmp_path, monkeypatch):
    """Issue 44: a folder with no audio gave "no input could be read" without naming it, after
    the model had loaded."""
    import graham.inference.predict as predict_module

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    monkeypatch.setattr(predict_module, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    res = runner.invoke(app, ["predict", str(trained.out / "bundle"), str(tmp_path / "empty"),
                              str(tmp_path / "missing.mp3")])
    assert res.exit_code == 2 and f"no audio file in {tmp_path / 'empty'}" in res.output
    assert "missing.mp3: no such file" in res.output
