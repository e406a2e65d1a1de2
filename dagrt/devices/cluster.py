"""The cluster device: dagrt arrays on a Dask cluster (``dagrt.cluster()``).

The design (docs/cluster.md, after ../shared/design/distributed.md):

- **Shadow storage.** A cluster array's ``_data`` is a NumPy array over
  reserved, never-touched memory (an anonymous ``mmap`` per root buffer), so
  shapes, dtypes, strides, views and NumPy's argument checks work on the
  client as for host arrays; a view's place in its root is its address minus
  the root's. The values live on the workers.
- **Versions.** Each root buffer has a current version: an element of an
  earlier segment's result (a Dask future), or none yet. A write makes the
  next version (copy-on-write on the worker), so a version never changes:
  old readers, Dask's retries and recomputations all see the same bytes.
- **Fused segments.** The executor does not send one task per op (a task
  costs milliseconds): a launched op appends its record to the open segment;
  the segment is sent, one task per connected component (ops sharing roots),
  when the cluster is idle, when it reaches ``cluster_segment_ops`` ops, or
  when someone waits (a sync point,
  ``waitall``, a backpressure stall). ``devices.replay`` runs it on a worker.
- **The engine contract is unchanged.** Same-device dependents are released
  at launch (as for a GPU's streams); a poller thread completes the ops of a
  segment when its task finishes, with their errors (annotated with the
  recording line by the engine).

Imports: the configuration, the log, ``devices.replay``; Dask on first use.
"""

from __future__ import annotations

import atexit
import itertools
import mmap
import queue
import shutil
import tempfile
import threading
import time
import weakref
from typing import Any

import numpy as np

from .. import _config, _log
from .device import Device
from .replay import Record, Ref, Segment, extract, replay_blob


class _Root:
    """A root buffer on the cluster: its shadow and its current version."""

    __slots__ = ("key", "nbytes", "address", "version", "__weakref__")

    def __init__(self, key: int, nbytes: int, address: int) -> None:
        self.key = key
        self.nbytes = nbytes
        self.address = address
        self.version: tuple[Any, int] | None = None  # (segment future, element)


class ClusterBackend:
    """Shadow storage, records and transfers for one Dask client."""

    name = "dask"
    OutOfMemoryError = MemoryError

    def __init__(self, client: Any, owned: Any = None) -> None:
        self.client = client
        self.owned = owned  # the embedded cluster dagrt started (closed with it)
        self._keys = itertools.count()
        self._roots: weakref.WeakValueDictionary[int, _Root] = weakref.WeakValueDictionary()
        self._maps: dict[int, _Root] = {}  # id(mmap) -> root (kept alive by the shadow)
        self._lock = threading.Lock()

    # -- shadow storage ------------------------------------------------------------
    def empty(self, device_id: int, shape: Any, dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        shape = tuple(shape) if np.iterable(shape) else (int(shape),)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0x20) | \
            getattr(mmap, "MAP_NORESERVE", 0)
        memory = mmap.mmap(-1, max(nbytes, 1), flags=flags)
        data = np.ndarray(shape, dtype, buffer=memory)
        root = _Root(next(self._keys), nbytes, data.__array_interface__["data"][0])
        with self._lock:
            self._maps[id(memory)] = root
        weakref.finalize(memory, self._maps.pop, id(memory), None)
        return data

    def placeholder(self, device_id: int, shape: Any, dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.zeros((), dtype), shape)

    def root_of(self, view: np.ndarray) -> _Root | None:
        base: Any = view
        while isinstance(base, np.ndarray):
            base = base.base
        return self._maps.get(id(base)) if isinstance(base, mmap.mmap) else None

    def ref(self, view: np.ndarray, roots: dict[int, _Root]) -> Ref:
        """``view`` as a reference to its root (noted in ``roots``, by key)."""
        root = self.root_of(view)
        if root is None:
            raise ValueError("dagrt: a cluster operation got storage that is not the "
                             "cluster's (a dagrt bug)")
        roots[root.key] = root
        return Ref(root.key, view.__array_interface__["data"][0] - root.address,
                   view.shape, view.strides, view.dtype)

    # -- records --------------------------------------------------------------------
    def translate(self, func: Any, kwargs: Any = ()) -> Any:
        return func  # NumPy runs on the workers

    def picklable(self, call: Any) -> bool:
        return _picklable(call)

    def kernel(self, executor: ClusterExecutor, call: Any, args: Any, kwargs: Any,
               targets: list[np.ndarray], use_out: bool) -> Any:
        """The op's kernel: at launch, it appends its record to the open segment."""
        roots: dict[int, _Root] = {}

        def encode(x: Any) -> Any:
            t = type(x)
            if t is np.ndarray and self.root_of(x) is not None:
                return self.ref(x, roots)
            if t is list or t is tuple:
                return t(encode(v) for v in x)
            if t is dict:
                return {k: encode(v) for k, v in x.items()}
            return x

        record_args, record_kwargs = encode(tuple(args)), encode(dict(kwargs))
        reads = frozenset(roots)
        outs = tuple(self.ref(t, roots) for t in targets)
        record = Record(call, record_args, record_kwargs, outs, use_out, reads,
                        frozenset(o.root for o in outs))
        return lambda: executor.append(record, roots)

    # -- transfers ------------------------------------------------------------------
    def to_host(self, array: np.ndarray, out: np.ndarray | None = None,
                stream: Any = None) -> np.ndarray:
        """The value of a cluster view (its writes are done): fetched from the
        worker holding its root's current version."""
        roots: dict[int, _Root] = {}
        ref = self.ref(array, roots)
        version = roots[ref.root].version
        if version is None:  # never written: NumPy's empty, zeros here
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
        close(device)


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


class ClusterExecutor:
    """Fuses launched ops into segments and sends them to the cluster."""

    inline = False

    def __init__(self, device: Device, backend: ClusterBackend, engine: Any) -> None:
        self.device = device
        self.backend = backend
        self.engine = engine
        self.name = f"{device!r}"
        self._lock = threading.RLock()
        self._records: list[tuple[Any, Record, dict[int, _Root]]] = []  # (op, record, roots)
        self._current: Any = None  # the op being launched
        self._outs: dict[int, np.ndarray] = {}  # id(fetch record) -> its host output
        self._in_flight = 0
        self._threads = max(1, sum(backend.client.nthreads().values()) or 1)
        # The engine's look-ahead bound for this device: four full segments per
        # worker thread may be pending (outputs take no client memory)
        self.lookahead_ops = 4 * _config.get("cluster_segment_ops") * self._threads
        self.lookahead_bytes = _config.get("max_pending_bytes")
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._poller = threading.Thread(target=self._poll, daemon=True,
                                        name=f"dagrt-{device!r}-poller")
        self._poller.start()
        self.segments = 0  # tasks sent (for tests and benchmarks)

    def submit(self, op: Any) -> list[Any]:
        """Launch ``op``: its record joins the open segment."""
        with self._lock:
            self._current = op
            try:
                op.fn()  # -> append()
                error = None
            except Exception as exc:
                error = exc
            finally:
                self._current = None
            if error is not None:
                op.worker = self.name
        if error is not None:  # outside our lock: complete takes the engine's
            return self.engine.complete(op, error, dispatch=False)
        with self._lock:
            op.worker = self.name
            op.t0 = time.perf_counter()
            if self._worth_sending():
                self.flush()
        return self.engine.launched(op)

    def _worth_sending(self) -> bool:
        """Send the open segment now? When the cluster is idle, or when it is
        full (fewer ops are not worth a task's fixed cost of milliseconds).
        Whoever waits sends it at once (``Engine.flushers``)."""
        n = len(self._records)
        return n > 0 and (self._in_flight == 0 or n >= _config.get("cluster_segment_ops"))

    def append(self, record: Record, roots: dict[int, _Root]) -> None:
        self._records.append((self._current, record, roots))

    def fetch(self, array: np.ndarray, out: np.ndarray) -> None:
        """At launch: a record that reads ``array`` (a cluster view) into the
        host array ``out`` when its segment completes (``copyto(cpu())``)."""
        roots: dict[int, _Root] = {}
        ref = self.backend.ref(array, roots)
        self.append(Record(None, (ref,), {}, (), False, frozenset(roots), frozenset()),
                    roots)
        self._outs[id(self._records[-1][1])] = out

    def flush(self) -> None:
        """Send the open segment: one task per connected component."""
        with self._lock:
            records, self._records = self._records, []
            if not records:
                return
            components = _components(records)
            self._in_flight += 1  # flushes, not tasks: one flush's tasks run side by side
            remaining = [len(components)]
            for component in components:
                self._send(component, remaining)

    def _send(self, records: list[tuple[Any, Record, dict[int, _Root]]],
              remaining: list[int]) -> None:
        touched: dict[int, _Root] = {}
        for _, _, own in records:
            touched.update(own)
        roots = list(touched.values())
        futures: list[Any] = []
        positions: dict[int, int] = {}
        sources: list[tuple[int, int] | None] = []
        for root in roots:
            if root.version is None:
                sources.append(None)
                continue
            future, element = root.version
            position = positions.get(id(future))
            if position is None:
                position = positions[id(future)] = len(futures)
                futures.append(future)
            sources.append((position, element))
        written = sorted({w for _, r, _ in records for w in r.writes})
        outs = [self._outs.pop(id(record)) for _, record, _ in records if record.call is None]
        segment = Segment([r.key for r in roots], sources, [r.nbytes for r in roots], written,
                          [record for _, record, _ in records])
        ops = [op for op, _, _ in records]
        self.segments += 1
        try:  # one opaque blob: Dask need not walk the records
            import cloudpickle

            blob = cloudpickle.dumps(segment)
        except Exception as exc:
            self._done.put((None, ops, exc, remaining))
            return
        future = self.backend.client.submit(replay_blob, blob, *futures, pure=False)
        for element, key in enumerate(written):
            touched[key].version = (future, element)
        self._done.put((future, ops, outs, remaining))

    def _poll(self) -> None:
        while True:
            item = self._done.get()
            if item is None:
                return
            future, ops, outs, remaining = item
            try:
                if future is None:  # could not be sent
                    raise outs
                _, fetched, errors = future.result()
                for out, value in zip(outs, fetched):
                    if value is not None:
                        out[...] = value
            except BaseException as exc:  # the task itself failed (a lost worker...)
                errors = dict.fromkeys(range(len(ops)), exc)
            now = time.perf_counter()
            with self._lock:
                remaining[0] -= 1
                if not remaining[0]:
                    self._in_flight -= 1
                if self._worth_sending():
                    self.flush()
            for n, op in enumerate(ops):
                op.t1 = now
                self.engine.complete(op, errors.get(n))

    def shutdown(self) -> None:
        self._done.put(None)

    def reset_after_fork(self) -> None:  # pragma: no cover - a client does not survive fork
        pass


def _components(records: list[tuple[Any, Record, dict[int, _Root]]]
                ) -> list[list[tuple[Any, Record, dict[int, _Root]]]]:
    """The records grouped by connected component (records sharing a root),
    each in recording order."""
    parent: dict[int, int] = {}

    def find(k: int) -> int:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for _, _, roots in records:
        keys = list(roots)
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    groups: dict[int, list[tuple[Any, Record, dict[int, _Root]]]] = {}
    for entry in records:
        key = find(next(iter(entry[2]))) if entry[2] else -1
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


# -- dagrt.cluster() -------------------------------------------------------------------

_devices: dict[Any, Device] = {}
_ids = itertools.count()
_lock = threading.Lock()


def cluster(address: Any = None, *, workers: int | None = None) -> Device:
    """A Dask cluster as a dagrt device: ``x = dagrt.zeros(n, device=c)``.

    - ``dagrt.cluster()``: the embedded cluster, started on first use (local
      worker processes, loopback only, one thread each, ``workers`` of them:
      the inter-op threads by default); stopped at exit or by ``close``;
    - ``dagrt.cluster("tcp://host:8786")``: an existing Dask scheduler;
    - ``dagrt.cluster(client)``: any ``dask.distributed.Client``.

    Needs ``pip install "dagrt[distributed]"``.
    """
    if address is None:
        address = _config.get("cluster") or "local"
    key = address if isinstance(address, str) else id(address)
    with _lock:
        device = _devices.get(key)
        if device is not None and device.backend is not None:
            return device
        client, owned = _connect(address, workers)
        device = Device("cluster", next(_ids))
        device.backend = ClusterBackend(client, owned)
        device.executor = ClusterExecutor(device, device.backend, _engine())
        _devices[key] = device
        _engine().flushers.append(device.executor.flush)
        return device


def close(device: Device) -> None:
    """Stop using ``device``: wait for its work, close the client (and the
    embedded cluster dagrt started)."""
    engine = _engine()
    engine.drain()
    with _lock:
        for key, d in list(_devices.items()):
            if d is device:
                del _devices[key]
        backend, executor = device.backend, device.executor
        if executor is None:
            return
        if executor.flush in engine.flushers:
            engine.flushers.remove(executor.flush)
        executor.shutdown()
        device.backend = device.executor = None
    backend.client.close()
    if backend.owned is not None:
        backend.owned.close()


def _engine() -> Any:
    from ..engine.scheduler import ENGINE

    return ENGINE


def _connect(address: Any, workers: int | None) -> tuple[Any, Any]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ModuleNotFoundError("dagrt.cluster needs Dask's distributed scheduler: "
                                  "pip install 'dagrt[distributed]'",
                                  name="distributed") from exc
    if not isinstance(address, str):
        return address, None
    if address != "local":
        return Client(address), None
    from distributed.deploy.subprocess import SubprocessCluster

    n = workers or _config.get("inter_op_threads")
    t0 = time.perf_counter()
    # Worker processes started as programs of their own (not forked, not
    # spawned through multiprocessing): a script without a __main__ guard works.
    scratch = tempfile.mkdtemp(prefix="dagrt-cluster-")
    local = SubprocessCluster(host="127.0.0.1", n_workers=n, threads_per_worker=1,
                              dashboard_address=None, silence_logs=40,
                              worker_kwargs={"local_directory": scratch})
    weakref.finalize(local, shutil.rmtree, scratch, True)
    client = Client(local)
    client.wait_for_workers(n, timeout=120)
    _log.debug("embedded cluster: {} workers in {:.2f} s", n, time.perf_counter() - t0)
    return client, local


@atexit.register
def _close_all() -> None:
    for device in list(_devices.values()):
        try:
            close(device)
        except Exception:  # pragma: no cover - at exit, go on
            pass


__all__ = ["cluster", "close", "ClusterBackend", "ClusterExecutor"]
