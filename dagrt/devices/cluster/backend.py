"""A cluster device's backend: shadow storage on the client, the records an
op's kernel appends, and transfers (see the package's docstring).

Imports: the configuration, ``devices.replay``, ``cluster.chunks``.
"""

from __future__ import annotations

import functools
import itertools
import math
import mmap
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import _config
from ..device import Device
from ..replay import REF, Ref, extract
from . import chunks


class _Root:
    """A root buffer on the cluster: its shadow and its current version, or
    its pieces (row blocks, each a root of its own: ``cluster_chunks``)."""

    __slots__ = ("key", "nbytes", "address", "version", "shape", "rows", "pieces",
                 "written", "alive", "unsent", "parent", "watch", "__weakref__")

    def __init__(self, key: int, nbytes: int, address: int | None,
                 shape: tuple[int, ...] = ()) -> None:
        self.key = key
        self.nbytes = nbytes
        self.address = address  # (of its shadow: found when a view needs it)
        self.version: tuple[Any, int] | None = None  # (segment future, element)
        self.shape = shape
        self.rows: list[int] | None = None  # the pieces' row bounds
        self.pieces: list[_Root] | None = None
        self.written = False  # a record writing it was sent (or is about to be)
        # Its shadow lives (a client array can read it), and the records made
        # that touch it and are not sent yet: a segment returns a root it
        # writes only if either holds (a dead temporary's buffer stays on
        # no worker)
        self.alive = True
        self.unsent = 0
        self.parent: _Root | None = None  # (of a row block)
        self.watch: Any = None  # a weak reference to its root array (its death: ``_forget``)

    def piece(self, nbytes: int) -> _Root:
        """A new root for one of its row blocks."""
        piece = _Root(next(_KEYS), nbytes, None)
        piece.parent = self
        return piece


_FREE_SHADOWS = 256  # per size (each a mapping of the process: Linux allows 65,530)
_KEYS = itertools.count()  # root keys, unique in the process
# Shadow memory: reserved, never touched, never counted against the commit limit
_SHADOW = mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0x20) | \
    getattr(mmap, "MAP_NORESERVE", 0)


class ClusterBackend:
    """Shadow storage, records and transfers for one Dask client."""

    name = "dask"
    OutOfMemoryError = MemoryError

    def __init__(self, client: Any, owned: Any, close: Callable[[Device], None]) -> None:
        self.client = client
        self._close = close  # the package's ``close`` (the device's executor too)
        self.owned = owned  # the embedded cluster dagrt started (closed with it)
        self._maps: dict[int, _Root] = {}  # id(mmap) -> root (while its array lives)
        self._free: dict[int, list[mmap.mmap]] = {}  # shadows to reuse, by pages
        self.chunk_bytes = _config.get("cluster_chunk_bytes")  # (kept by the executor)

    # -- shadow storage ------------------------------------------------------------
    def empty(self, device_id: int, shape: Any, dtype: Any) -> np.ndarray:
        if not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)
        if type(shape) is not tuple:
            shape = tuple(shape) if np.iterable(shape) else (int(shape),)
        size = math.prod(shape)
        nbytes = size * dtype.itemsize
        pages = -(-max(nbytes, 1) // mmap.PAGESIZE)
        try:  # a shadow whose array died (no mmap and munmap per temporary)
            memory = self._free[pages].pop()
        except (KeyError, IndexError):
            memory = mmap.mmap(-1, pages * mmap.PAGESIZE, flags=_SHADOW)
        data = np.ndarray(shape, dtype, buffer=memory)
        root = _Root(next(_KEYS), nbytes, None, shape)
        chunk_bytes = self.chunk_bytes
        if size * 8 > chunk_bytes:  # a large array (as ``bounds`` counts
            # it): row blocks across the workers
            rows = chunks.bounds(shape, chunk_bytes)
            if rows is not None:
                row = nbytes // shape[0]
                root.rows = rows
                root.pieces = [root.piece((stop - start) * row)
                               for start, stop in zip(rows, rows[1:])]
        key = id(memory)
        self._maps[key] = root  # (one dict store: atomic under the GIL)
        # (the root array, whose base is the shadow: views hold it as their base)
        root.watch = weakref.ref(data, functools.partial(self._forget, key, memory, pages))
        return data

    def _forget(self, key: int, memory: Any, pages: int, _: Any = None) -> None:
        """A root array died (and its views): its shadow may serve again."""
        root = self._maps.pop(key, None)
        if root is not None:
            root.alive = False
            root.watch = None
        free = self._free.setdefault(pages, [])
        if len(free) < _FREE_SHADOWS:
            free.append(memory)

    def placeholder(self, device_id: int, shape: Any, dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.zeros((), dtype), shape)

    def root_of(self, view: np.ndarray) -> _Root | None:
        return self._find(view)[0]

    def _find(self, view: Any) -> tuple[_Root | None, Any]:
        """``view``'s root and its root array (the array whose base is the
        shadow: for a NumPy view, ``view.base``)."""
        maps = self._maps
        base: Any = view.base
        while base is not None:
            root = maps.get(id(base))  # (a live mmap's id: no other object's)
            if root is not None:
                return root, view
            view, base = base, getattr(base, "base", None)
        return None, None

    def ref(self, view: np.ndarray, roots: dict[int, _Root]) -> Ref:
        """``view`` as a reference to its root (noted in ``roots``, by key)."""
        wired = self._operand(view, roots)
        if wired is view:
            raise ValueError("dagrt: a cluster operation got storage that is not the "
                             "cluster's (a dagrt bug)")
        return Ref(wired[1:])

    def _operand(self, view: np.ndarray, roots: dict[int, _Root]) -> Any:
        """``view`` as a wired reference to its root (``replay.wire``), or
        ``view`` itself if it is not the cluster's (a host value that travels
        with the record)."""
        root = self._maps.get(id(view.base))
        if root is not None:  # the root array itself (most operands)
            offset = 0
        else:
            root, array = self._find(view)
            if root is None:
                return view
            if root.address is None:
                root.address = array.__array_interface__["data"][0]
            offset = view.__array_interface__["data"][0] - root.address
        roots[root.key] = root
        return (REF, root.key, offset, view.shape, view.strides, view.dtype)

    # -- records --------------------------------------------------------------------
    def translate(self, func: Any, kwargs: Any = ()) -> Any:
        return func  # NumPy runs on the workers

    def picklable(self, call: Any) -> bool:
        try:
            known = _PICKLABLE.get(call)
        except TypeError:  # unhashable
            known = None
        return _picklable(call) if known is None else known

    def record(self, call: Any, args: Any, kwargs: Any, targets: list[np.ndarray],
               use_out: bool) -> tuple[tuple[Any, ...], dict[int, _Root]]:
        """The record of ``call(*args, **kwargs)`` writing ``targets``, in the
        form a segment carries (``replay.wire``), and the roots it touches
        (by key)."""
        roots: dict[int, _Root] = {}
        operand = self._operand
        record_args = []
        for x in args:  # (flat: most operands are arrays and numbers)
            t = type(x)
            if t is np.ndarray:
                x = operand(x, roots)
            elif t is list or t is tuple or t is dict:
                x = self._encode(x, roots)
            record_args.append(x)
        record_kwargs = self._encode(kwargs, roots) if kwargs else {}
        reads = tuple(roots)
        if len(targets) == 1:
            out = operand(targets[0], roots)
            outs, writes = (out,), (out[1],)
        else:
            outs = tuple([operand(t, roots) for t in targets])
            writes = tuple([o[1] for o in outs])
        return (call, tuple(record_args), record_kwargs, outs, use_out, reads, writes), roots

    def _encode(self, x: Any, roots: dict[int, _Root]) -> Any:
        """``x`` with the cluster arrays in it (lists, tuples, dicts) as refs."""
        t = type(x)
        if t is np.ndarray:
            return self._operand(x, roots)
        if t is list or t is tuple:
            return t([self._encode(v, roots) for v in x])
        if t is dict:
            return {k: self._encode(v, roots) for k, v in x.items()}
        return x

    # -- transfers ------------------------------------------------------------------
    def to_host(self, array: np.ndarray, out: np.ndarray | None = None,
                stream: Any = None) -> np.ndarray:
        """The value of a cluster view (its writes are done): fetched from the
        worker holding its root's current version."""
        roots: dict[int, _Root] = {}
        ref = self.ref(array, roots)
        root = roots[ref.root]
        version = root.version
        if root.pieces is not None:
            value = chunks.value(self.client, root, ref)
        elif version is None:  # never written: NumPy's empty, zeros here
            value = np.zeros(array.shape, array.dtype)
        else:
            future, element = version
            value = self.client.submit(extract, future, element, ref, pure=False).result()
        if out is not None:
            out[...] = value
            return out
        return value

    def free_cached(self) -> None:
        pass

    def close(self, device: Device) -> None:
        self._close(device)


_PICKLABLE: dict[Any, bool] = {}


def _picklable(call: Any) -> bool:
    """Whether the op's function can travel to a worker (not a ``frompyfunc``
    ufunc...); the answer is kept per function."""
    try:
        known = _PICKLABLE.get(call)
    except TypeError:  # unhashable: check each time
        known = None
    if known is None:
        import cloudpickle

        try:
            cloudpickle.dumps(call)
            known = True
        except Exception:
            known = False
        if len(_PICKLABLE) > 10_000:
            _PICKLABLE.clear()
        try:
            _PICKLABLE[call] = known
        except TypeError:
            pass
    return known
