"""Data: the Corpus table, readers (GTZAN, AudioSet, folders, the synthetic corpus), split
lists, the sharded on-disk store and the log-mels kept in it."""

from .audioset import AUDIOSET_GENRES, read_audioset
from .corpus import Clip, Corpus, Skipped
from .features import FeatureSet, FeatureStore
from .folder import read_folder
from .gtzan import GTZAN_GENRES, read_gtzan
from .spec import DEFAULT_SYNTHETIC, DatasetSpec, open_dataset, parse_dataset
from .split_lists import apply_split_lists, read_split_list
from .store import ShardedArrays, ShardStore

__all__ = [
    "AUDIOSET_GENRES", "read_audioset", "Clip", "Corpus", "Skipped", "FeatureSet", "FeatureStore", "ShardStore", "ShardedArrays",
    "read_folder", "GTZAN_GENRES", "read_gtzan", "DEFAULT_SYNTHETIC", "DatasetSpec", "open_dataset",
    "parse_dataset", "apply_split_lists", "read_split_list",
]
