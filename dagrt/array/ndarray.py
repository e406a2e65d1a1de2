"""The lazy array front end: ``ndarray`` and the recording helpers.

Every dagrt array owns real storage from the moment it is recorded: a NumPy
array (``_data``) that pending operations will fill, and the scheduling state
of its root buffer (``_var``), shared by every view of that buffer. Shape,
dtype and strides are therefore known at once, views are NumPy views of the
storage (so they alias exactly as in NumPy), and a kernel is simply a NumPy
call writing into preallocated storage.

Recording policy (``run_or_push``): an operation whose inputs have no pending
writes, whose outputs have no pending uses, and whose output is at most
``inline_bytes``, runs at once in the calling thread: a thread hand-off would
cost more than the work. Everything else becomes an ``Op`` for the scheduler.

Imports: ``_graph``, ``_scheduler``, ``_devices``, ``_config``.
"""

from __future__ import annotations

import contextvars
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from loguru import logger

from .. import _config
from ..devices.device import CPU, Device
from ..engine.graph import Op, Var, recording_site
from ..engine.scheduler import ENGINE

_new = object.__new__
_NP = np.ndarray
_SCALARS = (int, float, complex, bool, np.generic)


class _Policy:
    """Hot-path switches, refreshed whenever configuration changes."""

    inline_bytes = 1 << 16
    inline_elems = inline_bytes // 8
    inline = True  # False while something observes every op (profiles, graphs)
    debug = False  # log inline decisions (DAGRT_LOG_LEVEL=DEBUG)

    @classmethod
    def refresh(cls) -> None:
        cls.inline_bytes = _config.get("inline_bytes")
        cls.inline_elems = cls.inline_bytes // 8 if cls.inline else 0

    @classmethod
    def set_inline(cls, on: bool) -> None:
        """Allow or forbid running small ops in the caller (observers forbid it)."""
        cls.inline = on
        cls.refresh()


_Policy.refresh()
_config.on_change(_Policy.refresh)


class ndarray:
    """A lazily evaluated N-dimensional array with NumPy's semantics.

    Operations return new arrays at once; values are computed by the scheduler.
    Reading a value (``print``, ``float``, ``asnumpy``, ``np.asarray``) waits for
    just what it needs. ``isinstance(x, dagrt.ndarray)`` holds for every dagrt
    array.
    """

    __slots__ = ("_data", "_var", "_base", "__weakref__")
    __array_priority__ = 100.0
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float, buffer: Any = None,
                 offset: int = 0, strides: Any = None, order: Any = None) -> None:
        self._data = np.ndarray(shape, dtype, buffer, offset, strides, order)
        self._var = Var()
        self._base = None

    # -- metadata: known at once -------------------------------------------
    shape = property(lambda self: self._data.shape, doc="Tuple of dimensions.")
    dtype = property(lambda self: self._data.dtype, doc="Data type of elements.")
    ndim = property(lambda self: self._data.ndim, doc="Number of dimensions.")
    size = property(lambda self: self._data.size, doc="Number of elements.")
    nbytes = property(lambda self: self._data.nbytes, doc="Bytes of the elements.")
    itemsize = property(lambda self: self._data.itemsize, doc="Bytes per element.")
    strides = property(lambda self: self._data.strides, doc="Bytes per step per axis.")
    flags = property(lambda self: self._data.flags, doc="Memory layout flags.")
    base = property(lambda self: self._base, doc="The array this is a view of, or None.")

    @property
    def device(self) -> Device:
        """The device holding this array (``dagrt.cpu()`` or ``dagrt.gpu(i)``)."""
        return self._var.device or CPU

    ctx = device
    context = device

    @shape.setter  # type: ignore[no-redef]
    def shape(self, value: Any) -> None:
        view = self._data.view()
        view.shape = value  # raises as NumPy does when a copy would be needed
        self._data = view

    @property
    def T(self) -> ndarray:
        """The transposed array (a view)."""
        return view_of(self, self._data.T)

    # -- sync points ---------------------------------------------------------
    def wait_to_read(self) -> None:
        """Block until this array's value is computed (MXNet's ``wait_to_read``)."""
        var = self._var
        if var.nw or var.error is not None:
            ENGINE.wait(var)

    def _value(self) -> np.ndarray:
        """The storage, once every pending write to it is done."""
        var = self._var
        if var.nw or var.error is not None:
            ENGINE.wait(var)
        return self._data

    def _quiet(self) -> np.ndarray:
        """The storage, once every pending use of it is done (safe to write)."""
        var = self._var
        if var.n or var.error is not None:
            ENGINE.wait(var, writes_only=False)
        return self._data

    def _host(self) -> np.ndarray:
        """The value in host memory (a copy if the array lives on a GPU)."""
        data = self._value()
        if type(data) is _NP:
            return data
        device = self._var.device
        return device.backend.to_host(data) if device is not None else np.asarray(data)

    def asnumpy(self) -> np.ndarray:
        """A NumPy copy of the value (MXNet's ``asnumpy``)."""
        data = self._host()
        return data.copy() if self._var.device is None else data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self._quiet() if self._var.device is None else self._host()
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def item(self, *args: Any) -> Any:
        return self._host().item(*args)

    def tolist(self) -> Any:
        return self._host().tolist()

    def __float__(self) -> float:
        return float(self._host())

    def __int__(self) -> int:
        return int(self._host())

    def __complex__(self) -> complex:
        return complex(self._host())

    def __bool__(self) -> bool:
        return bool(self._host())

    def __index__(self) -> int:
        return operator.index(self._host())

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of unsized object")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Any]:
        if not self._data.ndim:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._data.shape[0]))

    def __contains__(self, value: Any) -> bool:
        return bool((self == value).any())

    def __repr__(self) -> str:
        data = self._host()
        return repr(data[()]) if data.ndim == 0 else repr(data)

    def __str__(self) -> str:
        return str(self._host())

    def __format__(self, spec: str) -> str:
        data = self._host()
        return format(data[()] if data.ndim == 0 else data, spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_numpy, (self.asnumpy(),))

    def __deepcopy__(self, memo: dict[int, Any]) -> ndarray:
        import copy  # NumPy's deepcopy also copies the objects of an object array

        return wrap(copy.deepcopy(self._host(), memo))

    def __copy__(self) -> ndarray:
        return self.copy()



def _from_numpy(data: np.ndarray) -> ndarray:
    return wrap(data)


def wrap(data: Any) -> ndarray:
    """A new root dagrt array around a NumPy array (or scalar) that is ready."""
    if type(data) is not _NP:
        data = np.asarray(data)
    a = _new(ndarray)
    a._data = data
    a._var = Var()
    a._base = None
    return a


def view_of(base: ndarray, data: np.ndarray) -> ndarray:
    """A dagrt view: NumPy view ``data`` of ``base``'s storage, same buffer."""
    a = _new(ndarray)
    a._data = data
    a._var = base._var
    a._base = base if base._base is None else base._base
    return a


def placement(args: Any) -> Device | None:
    """The device of the dagrt arrays among ``args`` (one level of lists):
    None for host memory. Arrays on two devices in one op are an error."""
    device: Device | None = None
    host = False
    for a in _arrays(args):
        d = a._var.device
        if d is None:
            host = True
        elif device is None:
            device = d
        elif d is not device:
            _mixed(device, d)
    if device is not None and host:
        _mixed(CPU, device)
    return device


def _arrays(args: Any) -> Iterator[ndarray]:
    for a in args:
        if isinstance(a, ndarray):
            yield a
        elif type(a) is list or type(a) is tuple:
            yield from _arrays(a)


def _gpu_count() -> int:
    from ..devices.registry import num_gpus

    return num_gpus()


def _mixed(a: Device, b: Device) -> None:
    raise ValueError(f"operands are on different devices, {a!r} and {b!r}: copy one first, "
                     f"e.g. x.copyto(dagrt.{b!r}) or x.copyto(dagrt.cpu())")


def new_array(shape: Any, dtype: Any, like: Any = (), order: str = "C",
              device: Device | None = None) -> ndarray:
    """A new array whose storage a pending operation will fill, on the device
    of the arrays in ``like`` (or on ``device``)."""
    if device is None and like:
        device = placement(like)
    if device is None:
        return wrap(np.empty(shape, dtype, order))
    backend = device.backend
    if backend is None:
        raise RuntimeError(
            f"no {device!r}: dagrt sees {_gpu_count()} GPU(s) (CuPy missing or no CUDA "
            f"device). Install dagrt[cuda12] on a machine with a GPU, or use dagrt.cpu().")
    error = None
    try:
        data = backend.empty(device.id, shape, dtype)
    except backend.OutOfMemoryError:  # free the pool's cached blocks, retry once
        backend.free_cached()
        try:
            data = backend.empty(device.id, shape, dtype)
        except backend.OutOfMemoryError as exc:  # surfaces at the next sync point
            data, error = backend.placeholder(device.id, shape, dtype), exc
    a = _new(ndarray)
    a._data = data
    a._var = Var(device)
    a._base = None
    if error is not None:
        ENGINE.fail(Op(None, (), (a._var,), "allocate", recording_site(),  # type: ignore[arg-type]
                       device=device), error)
    return a


# -- recording ----------------------------------------------------------------

def resolve(x: Any, reads: list[Var], snapshot: bool) -> Any:
    """Replace dagrt arrays in an argument by their storage (noting the buffers
    read); snapshot NumPy arrays the user could still mutate."""
    t = type(x)
    if t is ndarray:
        reads.append(x._var)
        return x._data
    if t is _NP:
        return x.copy() if snapshot and x.flags.writeable else x
    if t is list or t is tuple:
        return t(resolve(v, reads, snapshot) for v in x)
    return x


def inputs_ready(args: Sequence[Any]) -> bool:
    """True if no dagrt array among ``args`` (one level of lists) has a
    pending write or a stored error."""
    for a in args:
        t = type(a)
        if t is ndarray:
            var = a._var
            if var.nw or var.error is not None:
                return False
        elif t is list or t is tuple:
            if not inputs_ready(a):
                return False
    return True


def output_idle(out: ndarray) -> bool:
    var = out._var
    return not var.n and var.error is None


def push(name: str, kernel: Callable[[], Any], reads: list[Var], writes: list[Var],
         nbytes: int = 0, meta: dict[str, Any] | None = None,
         device: Device | None = None, lane: str = "", work: int | None = None) -> None:
    """Hand an operation to the scheduler, in the recording context (so
    ``np.errstate`` applies to the kernel as it would in NumPy)."""
    write_set = tuple(writes) if len(writes) == 1 else tuple(dict.fromkeys(writes))
    if len(reads) > 1:
        reads = list(dict.fromkeys(reads))
    read_set = tuple(v for v in reads if v not in write_set)
    ctx = contextvars.copy_context()
    op = Op(lambda: ctx.run(kernel), read_set, write_set, name, recording_site(),
            nbytes=nbytes, meta=meta, device=device)
    op.lane = lane
    if work is not None:
        op.work = work
    ENGINE.push(op)


def check_writeable(out: ndarray) -> None:
    if out._var.error is None and not out._data.flags.writeable:
        raise ValueError("assignment destination is read-only")


def run_or_push(name: str, call: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any], outs: list[ndarray],
                use_out: bool = True, cost: int | None = None) -> None:
    """Compute ``call(*args, **kwargs)`` into the storage of ``outs``: now, if
    it is small and its inputs are ready, else as a scheduled operation.

    With ``use_out`` the call receives ``out=``; otherwise its result is
    assigned into the single output.
    """
    nbytes = sum(o._data.nbytes for o in outs) if cost is None else cost
    device = outs[0]._var.device if outs else None
    if device is not None:  # device ops always go to the device's streams
        call = device.backend.translate(call)
    elif (_Policy.inline and (nbytes <= _Policy.inline_bytes or ENGINE.costs.cheap(name, nbytes))
            and inputs_ready(args) and inputs_ready(kwargs.values())
            and all(map(output_idle, outs))):
        reads: list[Var] = []
        np_args = resolve(args, reads, False)
        np_kwargs = {k: resolve(v, reads, False) for k, v in kwargs.items()}
        kernel = _kernel(call, np_args, np_kwargs, [o._data for o in outs], use_out)
        if nbytes <= _Policy.inline_bytes:
            kernel()
        else:  # admitted by the cost model: keep its estimate current
            t0 = time.perf_counter()
            kernel()
            ENGINE.costs.observe(name, nbytes, time.perf_counter() - t0)
            if _Policy.debug:
                logger.debug("{} ran inline: predicted cheaper than a hand-off", name)
        return
    reads = []
    np_args = resolve(args, reads, True)
    np_kwargs = {k: resolve(v, reads, True) for k, v in kwargs.items()}
    kernel = _kernel(call, np_args, np_kwargs, [o._data for o in outs], use_out)
    if cost is not None:  # a work estimate, not the output bytes backpressure counts
        nbytes = sum(o._data.nbytes for o in outs)
    push(name, kernel, reads, [o._var for o in outs], nbytes,
         {"shape": outs[0]._data.shape, "dtype": outs[0]._data.dtype}
         if outs and ENGINE.observers else None, device, work=cost)


def _kernel(call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
            outs: list[np.ndarray], use_out: bool) -> Callable[[], None]:
    if use_out:
        out = outs[0] if len(outs) == 1 else tuple(outs)
        return lambda: call(*args, out=out, **kwargs)
    if len(outs) == 1:
        target = outs[0]

        def assign() -> None:
            target[...] = call(*args, **kwargs)
        return assign

    def assign_many() -> None:
        for target, value in zip(outs, call(*args, **kwargs)):
            target[...] = value
    return assign_many


def evaluate(x: Any, quiet: bool = False) -> Any:
    """Replace dagrt arrays (in lists, tuples, dicts) by their storage once
    computed; with ``quiet``, once no pending operation uses them (so the
    caller may also write them, as NumPy functions like ``np.put`` do)."""
    if isinstance(x, ndarray):
        return x._quiet() if quiet else x._value()
    t = type(x)
    if t is list or t is tuple:
        return t(evaluate(v, quiet) for v in x)
    if t is dict:
        return {k: evaluate(v, quiet) for k, v in x.items()}
    return x


def wrap_result(result: Any) -> Any:
    """Wrap NumPy results of an eager call as dagrt arrays (recursively)."""
    if isinstance(result, np.ndarray):
        return wrap(result.copy() if not result.flags.owndata else result)
    if isinstance(result, tuple):
        return type(result)(*map(wrap_result, result)) if hasattr(result, "_fields") \
            else tuple(map(wrap_result, result))
    if isinstance(result, list):
        return [wrap_result(r) for r in result]
    return result
