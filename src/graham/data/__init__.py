"""Data: the Corpus table, readers (GTZAN, AudioSet, folders, the synthetic corpus), split
lists and the on-disk log-mel cache."""

from .audioset import AUDIOSET_GENRES, read_audioset
from .corpus import Clip, Corpus, Skipped
from .features import FeatureSet, FeatureStore, file_digest
from .folder import read_folder
from .gtzan import GTZAN_GENRES, read_gtzan
from .spec import DEFAULT_SYNTHETIC, DatasetSpec, open_dataset, parse_dataset
from .split_lists import apply_split_lists, read_split_list

__all__ = [
    "AUDIOSET_GENRES", "read_audioset", "Clip", "Corpus", "Skipped", "FeatureSet", "FeatureStore", "file_digest",
    "read_folder", "GTZAN_GENRES", "read_gtzan", "DEFAULT_SYNTHETIC", "DatasetSpec", "open_dataset",
    "parse_dataset", "apply_split_lists", "read_split_list",
]
