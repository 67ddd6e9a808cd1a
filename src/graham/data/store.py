"""A sharded on-disk store of float32 arrays (log-mels, embeddings): shard ``k`` holds items
``k*S .. k*S+S-1`` of a fixed list, and items are read back memory-mapped one at a time.

Why shards of ``.npy``: a corpus of millions of clips as one file per clip strains a file
system (inodes, directory sizes, copying), and one file for all of it cannot be written by
several processes or resumed. A ``.npy`` can be mapped at any byte offset with plain numpy,
so reading one item maps only its own bytes; safetensors would serve as well for reading, but
its readers map or load whole tensors, and nothing here needs more than a flat array.

Layout of a store folder::

    store.json          what the items are (kind, settings) and the shard size
    shard-000000.npy    the items of shard 0, raveled and concatenated [1-D float32]
    shard-000000.json   per item: its source's stamp, and its shape or why it failed

A shard is written when all its items are done, the array first and its index second, each
atomically: the index is the mark that the shard is complete. On the next run a shard is
reused when its index reads, its stamps equal the sources' stamps (a file that changed has
another size or time) and its array holds what the index says; otherwise it is redone. A run
killed at any moment therefore loses at most the shards it was writing. Values are not
re-read to check them: that would read the whole store on every run.

Several processes may fill one store at once, each its own shards (:func:`my_shards`); the
folder must then be shared by all of them (one machine, or a network file system). Two runs
that do not know of each other (two ``graham features`` on one folder, two trainings sharing
the cache) are safe too: a process fills a shard only while it holds the shard's lock
(``.shard-K.lock``, an advisory ``flock``, released by the kernel when its holder dies), and
only a lock holder removes the temporary files of that shard, which then can only have been
left by a killed run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DatasetError
from ..utils.files import atomic_path, write_json
from ..utils.ranks import barrier, world

try:
    import fcntl as _fcntl
except ImportError:  # not on POSIX: no locks; concurrent runs on one store are then not safe
    _fcntl = None  # type: ignore[assignment]
fcntl = _fcntl

__all__ = ["ShardStore", "ShardLock", "ShardedArrays", "source_stamp", "my_shards", "DEFAULT_SHARD_SIZE"]


class ShardLock:
    """An exclusive advisory lock on one shard of a store, held from :meth:`ShardStore.lock`
    until :meth:`release` (or the end of a ``with`` block, or the holder's death)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> "ShardLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

#: Items per shard: 256 log-mels of 10-s clips are 56 MB, of 30-s clips 170 MB (the buffer a
#: writer holds), and AudioSet's 2 million clips make about 8,000 shards.
DEFAULT_SHARD_SIZE = 256

_FORMAT = 1


def source_stamp(path: str | os.PathLike) -> str:
    """What identifies a source file's version without reading it: path, size and
    modification time (as ``make`` and rsync judge); a missing file has its own stamp."""
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def my_shards(n_shards: int, rank: int, world_size: int) -> range:
    """Shards that process ``rank`` of ``world_size`` fills: every ``world_size``-th, so ranks
    stay within one shard of each other however the corpus is ordered."""
    return range(rank, n_shards, world_size)


class ShardedArrays(Sequence):
    """Items of a store as a read-only sequence [item: float32 array, memory-mapped].

    Reading item ``i`` maps only that item's bytes, and the mapping goes when the caller drops
    the array: memory and the number of mappings stay flat whatever the store's size (Linux
    allows 65,530 mappings per process). Positions are held as numpy arrays, not as Python
    objects, so indexing two million items costs tens of megabytes.
    """

    def __init__(self, files: Sequence[Path], shard: np.ndarray, offset: np.ndarray, shapes: np.ndarray) -> None:
        self.files = list(files)
        self.shard = np.asarray(shard, dtype=np.int32)
        self.offset = np.asarray(offset, dtype=np.int64)  # bytes from the start of the file
        shapes = np.asarray(shapes, dtype=np.int64)
        self.shapes = shapes.reshape(len(self.shard), shapes.shape[-1] if shapes.ndim > 1 else -1)  # empty too

    def __len__(self) -> int:
        return len(self.shard)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} of {len(self)}")
        return np.memmap(self.files[self.shard[i]], dtype=np.float32, mode="r", offset=int(self.offset[i]),
                         shape=tuple(int(s) for s in self.shapes[i]))

    def subset(self, indices) -> "ShardedArrays":
        """The items at ``indices``, still lazy."""
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64)
        return ShardedArrays(self.files, self.shard[idx], self.offset[idx], self.shapes[idx])

    def stack(self) -> np.ndarray:
        """Every item in one array [shape=(len, *item shape)]; items must share a shape.

        Read shard by shard, one file open at a time: a live memory map holds a file
        descriptor, so one per item would hit the open-file limit (about 20,000 here) and the
        mapping limit long before AudioSet's size."""
        shape = tuple(int(s) for s in self.shapes[0]) if len(self) else (0,)
        if len(self) and (self.shapes != self.shapes[0]).any():
            raise ValueError("items of different shapes do not stack")
        out = np.empty((len(self), *shape), np.float32)
        size = int(np.prod(shape))
        for f in np.unique(self.shard):
            rows = np.flatnonzero(self.shard == f)
            start = int(self.offset[rows].min())
            with open(self.files[f], "rb") as fh:
                fh.seek(start)
                data = np.frombuffer(fh.read(int(self.offset[rows].max()) + 4 * size - start), dtype=np.float32)
            for i in rows:
                k = (int(self.offset[i]) - start) // 4
                out[i] = data[k:k + size].reshape(shape)
        return out


def _npy_data(path: Path) -> tuple[int, int] | None:
    """(byte offset of the data, element count) of a 1-D float32 ``.npy`` that is whole; None
    when it is missing, truncated or something else."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            start = f.tell()
        if dtype != np.float32 or len(shape) != 1 or fortran:
            return None
        if os.path.getsize(path) != start + 4 * shape[0]:
            return None
        return start, int(shape[0])
    except (OSError, ValueError):
        return None


class ShardStore:
    """One store folder (see the module doc): which shards are done, writing one, reading all.

    ``kind`` and ``settings`` say what the items are; opening a folder that holds another kind,
    other settings or another shard size is an error rather than a silent mix.
    """

    def __init__(self, root: str | os.PathLike, *, kind: str, settings: dict, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        if shard_size < 1:
            raise DatasetError(f"shard size must be >= 1, got {shard_size}")
        self.root = Path(root)
        self.shard_size = int(shard_size)
        self.manifest = {"format": _FORMAT, "kind": kind, "settings": json.loads(json.dumps(settings)),
                         "shard_size": self.shard_size}
        self._checked: dict[int, tuple[list, dict, int]] = {}  # shard -> (stamps, index, data offset) read once

    # -- layout ---------------------------------------------------------------------------
    def n_shards(self, n_items: int) -> int:
        return -(-n_items // self.shard_size)

    def items_of(self, k: int, n_items: int) -> range:
        return range(k * self.shard_size, min((k + 1) * self.shard_size, n_items))

    def _array(self, k: int) -> Path:
        return self.root / f"shard-{k:06d}.npy"

    def _index(self, k: int) -> Path:
        return self.root / f"shard-{k:06d}.json"

    def open(self, n_items: int) -> None:
        """Create the folder, or check that it holds this kind of store; record ``n_items``."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "store.json"
        doc = {**self.manifest, "items": int(n_items)}
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = None
            if old is not None and {k: old.get(k) for k in self.manifest} != self.manifest:
                raise DatasetError(f"{self.root} holds a store of other settings; use another folder")
            if old == doc:
                return
        write_json(path, doc)

    # -- one shard ------------------------------------------------------------------------
    def _load_index(self, k: int, stamps: Sequence[str]) -> tuple[dict, int] | None:
        """The index of shard ``k`` and its array's data offset, when the shard is complete
        and its stamps are ``stamps``; None when it must be (re)done. A shard found complete is
        not read again by this object (:meth:`todo` and :meth:`read` both need it)."""
        seen = self._checked.get(k)
        if seen is not None and seen[0] == list(stamps):
            return seen[1], seen[2]
        try:
            index = json.loads(self._index(k).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(index, dict) or index.get("stamps") != list(stamps):
            return None
        data = _npy_data(self._array(k))
        if data is None:
            return None
        start, count = data
        shapes = index.get("shapes")
        if not isinstance(shapes, list) or len(shapes) != len(stamps):
            return None
        if sum(int(np.prod(s)) for s in shapes if s is not None) != count:
            return None
        self._checked[k] = (list(stamps), index, start)
        return index, start

    def done(self, k: int, stamps: Sequence[str]) -> bool:
        """Whether shard ``k`` is complete for sources of these ``stamps``."""
        return self._load_index(k, stamps) is not None

    def lock(self, k: int, *, wait: bool = True) -> ShardLock | None:
        """Take shard ``k``'s lock: wait for it, or with ``wait=False`` return None when another
        process holds it. The holder is the only writer of the shard, so temporary files of
        the shard found now were left by a killed run and are removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return ShardLock(None)
        fd = os.open(self.root / f".shard-{k:06d}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        for stale in self.root.glob(f".shard-{k:06d}.*.tmp"):
            stale.unlink(missing_ok=True)
        self._checked.pop(k, None)  # another process may have written it since this one looked
        return ShardLock(fd)

    def write(self, k: int, stamps: Sequence[str], items: Sequence[np.ndarray | str]) -> None:
        """Write shard ``k``: each item an array, or a string saying why it has none. Hold the
        shard's :meth:`lock` when other processes may write the same store."""
        if len(items) != len(stamps):
            raise ValueError(f"shard {k}: {len(items)} items for {len(stamps)} stamps")
        self._checked.pop(k, None)
        arrays = [np.ascontiguousarray(x, dtype=np.float32) for x in items if not isinstance(x, str)]
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (sum(a.size for a in arrays),)}
        with atomic_path(self._array(k), suffix=".npy") as tmp:
            with open(tmp, "wb") as f:  # item by item: no second copy of the shard in memory
                np.lib.format.write_array_header_1_0(f, header)
                for a in arrays:
                    f.write(a.tobytes() if not a.flags.c_contiguous else memoryview(a).cast("B"))  # type: ignore[arg-type]
        write_json(self._index(k), {
            "stamps": list(stamps),
            "shapes": [None if isinstance(x, str) else list(np.shape(x)) for x in items],
            "errors": [x if isinstance(x, str) else None for x in items],
        })

    # -- all shards, across processes -----------------------------------------------------
    def todo(self, stamps: Sequence[str]) -> list[int]:
        """Open the store (process 0 of a ``torchrun`` group; the others wait for it) and list
        the shards this process must still fill for sources of ``stamps``."""
        n = len(stamps)
        rank, world_size = world()
        if rank == 0:
            self.open(n)
        barrier()
        return [k for k in my_shards(self.n_shards(n), rank, world_size)
                if not self.done(k, [stamps[i] for i in self.items_of(k, n)])]

    def gather(self, stamps: Sequence[str]) -> tuple[ShardedArrays, np.ndarray, dict[int, str]]:
        """:meth:`read`, once every process has filled its shards."""
        barrier()
        return self.read(stamps)

    def read(self, stamps: Sequence[str]) -> tuple[ShardedArrays, np.ndarray, dict[int, str]]:
        """The stored items of sources ``stamps`` (every shard must be complete): (the items that
        have an array, their positions in ``stamps``, {position: reason} for the others)."""
        n = len(stamps)
        files, shard, offset, shapes, kept, errors = [], [], [], [], [], {}
        for k in range(self.n_shards(n)):
            rng = self.items_of(k, n)
            loaded = self._load_index(k, [stamps[i] for i in rng])
            if loaded is None:
                raise DatasetError(f"{self._array(k)} is missing or incomplete; run the extraction again to redo it")
            index, pos = loaded
            files.append(self._array(k))
            for i, shape, err in zip(rng, index["shapes"], index["errors"]):
                if shape is None:
                    errors[i] = err or "failed"
                    continue
                shard.append(len(files) - 1)
                offset.append(pos)
                shapes.append(shape)
                kept.append(i)
                pos += 4 * int(np.prod(shape))
        ndim = len(shapes[0]) if shapes else 1
        if any(len(s) != ndim for s in shapes):
            raise DatasetError(f"{self.root}: items of different ranks")
        view = ShardedArrays(files, np.asarray(shard, np.int32), np.asarray(offset, np.int64),
                             np.asarray(shapes, np.int64).reshape(len(shapes), ndim))
        return view, np.asarray(kept, dtype=np.int64), errors
