from pathlib import Path

import pytest

from graham.data import Corpus, open_dataset, parse_dataset, read_audioset, read_folder, read_gtzan
from graham.errors import DatasetError

from tiny import tone, write


def test_gtzan_reads_au_and_wav_and_skips_the_broken_file_by_name(gtzan_dir):
    c = read_gtzan(gtzan_dir)  # the root holds genres/
    assert len(c) == 6 and c.classes == ["jazz", "rock"]
    assert {p.path.suffix for p in c} == {".au", ".wav"}
    assert "jazz.00000" in c.clip_ids and all(cl.group == cl.clip_id for cl in c)
    assert [s.path.endswith("jazz/jazz.00054.wav") for s in c.skipped] == [True]
    assert c.targets() == [0, 0, 0, 1, 1, 1]


def test_gtzan_plain_root_and_genre_subset(gtzan_dir):
    c = read_gtzan(gtzan_dir / "genres", genres=("rock",))
    assert c.classes == ["rock"] and len(c) == 3
    with pytest.raises(DatasetError):
        read_gtzan(gtzan_dir, genres=("polka",))
    with pytest.raises(DatasetError):
        read_gtzan(gtzan_dir / "nope")


def test_gtzan_split_lists_by_id_or_relative_path(gtzan_dir, tmp_path):
    (tmp_path / "train.txt").write_text("jazz/jazz.00000.au\njazz.00001\n# comment\nrock/rock.00000.wav\n")
    (tmp_path / "test.txt").write_text("rock.00001\njazz/jazz.00099.wav\n")
    c = read_gtzan(gtzan_dir, split_lists={"train": tmp_path / "train.txt", "test": tmp_path / "test.txt"})
    splits = {cl.clip_id: cl.split for cl in c}
    assert splits["jazz.00000"] == "train" and splits["rock.00001"] == "test" and splits["jazz.00002"] is None
    assert any("not in the corpus" in n for n in c.notes)
    (tmp_path / "valid.txt").write_text("jazz.00000\n")
    with pytest.raises(DatasetError, match="both"):
        read_gtzan(gtzan_dir, split_lists={"train": tmp_path / "train.txt", "valid": tmp_path / "valid.txt"})


def test_folder_reader_groups_by_first_subfolder(tmp_path):
    root = tmp_path / "music"
    write(root / "rock" / "Album A" / "01.wav", tone(0.3))
    write(root / "rock" / "Album A" / "cd2" / "02.flac", tone(0.3), format="FLAC")
    write(root / "rock" / "single.ogg", tone(0.3), format="OGG", subtype="VORBIS")
    write(root / "jazz" / "x.wav", tone(0.3))
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / "jazz" / "bad.wav").write_bytes(b"not audio")
    c = read_folder(root)
    groups = {cl.clip_id: cl.group for cl in c}
    assert groups == {"jazz/x": "jazz/x", "rock/Album A/01": "rock/Album A", "rock/Album A/cd2/02": "rock/Album A",
                      "rock/single": "rock/single"}
    assert [s.path.endswith("bad.wav") for s in c.skipped] == [True]


AUDIOSET_CSV = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=4, num_segs=4, num_unique_labels=527, num_positive_labels=6
# YTID, start_seconds, end_seconds, positive_labels
aaa, 30.000, 40.000, "/m/04rlf,/m/06by7"
bbb, 0.000, 10.000, "/m/04rlf,/m/03_d0,/m/06by7"
ccc, 10.500, 20.500, "/m/03_d0"
ddd, 0.000, 10.000, "/m/09x0r"
eee, 0.000, 10.000, "/m/0ggq0m"
"""


def test_audioset_reader_genres_multilabel_rule_and_missing(tmp_path):
    (tmp_path / "seg.csv").write_text(AUDIOSET_CSV)
    clips = tmp_path / "clips"
    write(clips / "aaa_30.wav", tone(0.5))
    write(clips / "sub" / "bbb_0.flac", tone(0.5), format="FLAC")
    write(clips / "ccc_10.5.wav", tone(0.5))
    c = read_audioset(tmp_path / "seg.csv", clips)
    assert {cl.clip_id: cl.label for cl in c} == {"aaa_30": "rock", "ccc_10.5": "jazz"}
    assert "1 dropped for several genres" in c.notes[0] and "1 missing" in c.notes[0] and "1 without" in c.notes[0]
    keep = read_audioset(tmp_path / "seg.csv", clips, multi_label="first")
    assert {cl.clip_id: cl.label for cl in keep}["bbb_0"] == "jazz"  # first chosen genre in CSV order
    only_rock = read_audioset(tmp_path / "seg.csv", clips, genres=["rock"])
    assert only_rock.clip_ids == ["aaa_30", "bbb_0"] and {cl.group for cl in only_rock} == {"aaa", "bbb"}
    with pytest.raises(DatasetError, match="unknown AudioSet genre"):
        read_audioset(tmp_path / "seg.csv", clips, genres=["polka"])


def test_dataset_specs(gtzan_dir, tmp_path):
    assert parse_dataset("gtzan:~/x").path.name == "x"
    assert parse_dataset("synthetic:5x2").options["synth"].per_genre == 5
    for bad in ("mp3:x", "gtzan", "synthetic:lots"):
        with pytest.raises(DatasetError):
            parse_dataset(bad)
    assert len(open_dataset(f"gtzan:{gtzan_dir}")) == 6
    with pytest.raises(DatasetError, match="table not found"):  # one rule for the CLI and the readers:
        open_dataset(f"audioset:{tmp_path}/x.csv")                # the table first, then its clips
    (tmp_path / "x.csv").write_text("# YTID, start_seconds, end_seconds, positive_labels\n")
    with pytest.raises(DatasetError, match="--clips"):
        open_dataset(f"audioset:{tmp_path}/x.csv")
    table = tmp_path / "t.csv"
    table.write_text(read_gtzan(gtzan_dir).to_csv())
    assert Corpus.from_csv(table).clip_ids == read_gtzan(gtzan_dir).clip_ids
    assert len(open_dataset(f"csv:{table}")) == 6


def test_synthetic_spec_generates_once_into_the_cache():
    c = open_dataset("synthetic:2x1", genres=["rock", "jazz"], progress=False)
    assert len(c) == 4 and c.classes == ["jazz", "rock"] and c.name.startswith("synthetic")
    again = open_dataset("synthetic:2x1", genres=["rock", "jazz"], progress=False)
    assert [p.stat().st_mtime_ns for p in (cl.path for cl in again)] == [p.stat().st_mtime_ns for p in (cl.path for cl in c)]


def test_corpus_rejects_duplicate_ids(gtzan_dir):
    c = read_gtzan(gtzan_dir)
    with pytest.raises(DatasetError, match="duplicate"):
        Corpus("x", c.clips + c.clips[:1])


def test_folders_and_dangling_links_named_like_audio_are_listed_as_skipped(tmp_path):
    from graham.data import read_folder, read_gtzan

    from tiny import tone, write

    for g in ("jazz", "rock"):
        write(tmp_path / "f" / g / "a.wav", tone(0.5))
        write(tmp_path / "g" / "genres" / g / f"{g}.00000.wav", tone(0.5))
    (tmp_path / "f" / "jazz" / "x.wav").mkdir()
    (tmp_path / "f" / "rock" / "gone.flac").symlink_to(tmp_path / "nowhere.flac")
    (tmp_path / "g" / "genres" / "rock" / "rock.00001.wav").mkdir()
    (tmp_path / "g" / "genres" / "jazz" / "jazz.00001.au").symlink_to(tmp_path / "nowhere.au")
    for corpus, n in ((read_folder(tmp_path / "f"), 2), (read_gtzan(tmp_path / "g"), 2)):
        reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
        assert len(corpus) == n and len(reasons) == 2, reasons
        assert any("folder" in r for r in reasons.values()) and any("dangling" in r for r in reasons.values())
