"""Data: the Corpus table, readers (GTZAN, AudioSet, folders, the synthetic corpus), split
lists, the sharded on-disk store and the log-mels kept in it."""
# Names resolve on first use (PEP 562): importing one light submodule (a reader, the decoder)
# does not load torch through this package's other modules.
from importlib import import_module as _import_module

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


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
