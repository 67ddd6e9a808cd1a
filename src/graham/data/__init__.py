"""Data: the Corpus table, readers (GTZAN, AudioSet, folders, the synthetic corpus), split
lists, the sharded on-disk store and the log-mels kept in it."""
from ..utils.lazy import lazy_attributes

_WHERE = {
    "AUDIOSET_GENRES": ".audioset",
    "read_audioset": ".audioset",
    "Clip": ".corpus",
    "Corpus": ".corpus",
    "Skipped": ".corpus",
    "FeatureSet": ".features",
    "FeatureStore": ".features",
    "ShardStore": ".store",
    "ShardedArrays": ".store",
    "read_folder": ".folder",
    "GTZAN_GENRES": ".gtzan",
    "read_gtzan": ".gtzan",
    "DEFAULT_SYNTHETIC": ".spec",
    "DatasetSpec": ".spec",
    "open_dataset": ".spec",
    "parse_dataset": ".spec",
    "apply_split_lists": ".split_lists",
    "read_split_list": ".split_lists",
}

__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
