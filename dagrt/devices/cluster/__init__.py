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

The package: ``backend`` (shadow storage, records, transfers), ``executor``
(segments, runs, the poller), ``chunks`` (large arrays in row blocks); here,
``dagrt.cluster()`` and ``close``.

Imports: the configuration, the log, ``devices.device``, ``devices.replay``;
Dask on first use.
"""
from __future__ import annotations

import atexit
import gc
import itertools
import shutil
import tempfile
import threading
import time
import weakref
from typing import Any

from ... import _config, _log
from ..device import Device
from .backend import ClusterBackend
from .executor import ClusterExecutor

# -- dagrt.cluster() -------------------------------------------------------------------

_devices: dict[Any, Device] = {}
_frozen = False  # gc.freeze() done (``cluster_gc_freeze``)
_ids = itertools.count()
_lock = threading.Lock()


def cluster(address: Any = None, *, workers: int | None = None,
            memory_limit: str | int | None = None) -> Device:
    """A Dask cluster as a dagrt device: ``x = dagrt.zeros(n, device=c)``.

    - ``dagrt.cluster()``: the embedded cluster, started on first use (local
      worker processes, loopback only, one thread each, ``workers`` of them:
      the inter-op threads by default; ``memory_limit`` per worker, as Dask
      takes it: ``"2GiB"``, beyond which workers spill to disk); stopped at
      exit or by ``close``;
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
        client, owned = _connect(address, workers, memory_limit)
        device = Device("cluster", next(_ids))
        device.backend = ClusterBackend(client, owned, close)
        device.executor = ClusterExecutor(device, device.backend, _engine())
        _devices[key] = device
        _engine().flushers.append(device.executor.waiting)
        global _frozen
        if not _frozen and _config.get("cluster_gc_freeze"):
            gc.freeze()  # (see the flag)
            _frozen = True
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
        if executor.waiting in engine.flushers:
            engine.flushers.remove(executor.waiting)
        executor.shutdown()
        device.backend = device.executor = None
    backend.client.close()
    if backend.owned is not None:
        backend.owned.close()


def _engine() -> Any:
    from ...engine.scheduler import ENGINE

    return ENGINE


def _connect(address: Any, workers: int | None, memory_limit: str | int | None
             ) -> tuple[Any, Any]:
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
                              worker_kwargs={"local_directory": scratch,
                                             **({} if memory_limit is None else
                                                {"memory_limit": memory_limit})})
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
