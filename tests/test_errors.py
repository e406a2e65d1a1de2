"""Errors: shape/dtype errors at the recording call; errors inside running
operations at the first dependent sync point, with the user's line."""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

import numpy
import pytest
from conftest import gate, run_python

import dagrt

AxisError = numpy.exceptions.AxisError


def _line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (a comment on the recording line)."""
    with open(__file__) as f:
        for number, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return number
    raise LookupError(marker)


# -- errors NumPy raises from shapes and dtypes: at the call --------------------------------

RECORD_ERRORS = [
    ("broadcast", lambda xp, a: a + xp.ones(5), ValueError),
    ("broadcast-out", lambda xp, a: xp.add(a, 1, out=xp.zeros(4)), ValueError),
    ("broadcast-inplace", lambda xp, a: a.__iadd__(xp.ones((2, 3, 4))), ValueError),
    ("sum-axis", lambda xp, a: a.sum(axis=2), AxisError),
    ("mean-axis", lambda xp, a: xp.mean(a, axis=-3), AxisError),
    ("argmax-axis", lambda xp, a: a.argmax(axis=5), AxisError),
    ("transpose-axes", lambda xp, a: a.transpose(0, 2), AxisError),
    ("swapaxes", lambda xp, a: xp.swapaxes(a, 0, 2), AxisError),
    ("concatenate-axis", lambda xp, a: xp.concatenate([a, a], axis=2), AxisError),
    ("concatenate-shape", lambda xp, a: xp.concatenate([a, a.T]), ValueError),
    ("stack-shape", lambda xp, a: xp.stack([a, a[:2]]), ValueError),
    ("matmul", lambda xp, a: a @ a, ValueError),
    ("matmul-fn", lambda xp, a: xp.matmul(a, xp.ones(3)), ValueError),
    ("dot", lambda xp, a: xp.dot(a, a), ValueError),
    ("einsum", lambda xp, a: xp.einsum("ij,jk", a, a), ValueError),
    ("reshape", lambda xp, a: a.reshape(5, 3), ValueError),
    ("reshape-fn", lambda xp, a: xp.reshape(a, (-1, 5)), ValueError),
    ("broadcast_to", lambda xp, a: xp.broadcast_to(a, (4, 4)), ValueError),
    ("getitem-bounds", lambda xp, a: a[3], IndexError),
    ("getitem-too-many", lambda xp, a: a[0, 0, 0], IndexError),
    ("setitem-shape", lambda xp, a: a.__setitem__(slice(None), xp.ones(3)), ValueError),
    ("ufunc-dtype", lambda xp, a: xp.bitwise_and(a, a), TypeError),
    ("inplace-cast", lambda xp, a: a.astype(int).__iadd__(1.5), TypeError),
    ("astype-casting", lambda xp, a: a.astype("int8", casting="safe"), TypeError),
    ("uint8-overflow", lambda xp, a: a.astype("uint8") + 300, OverflowError),
    ("split-unequal", lambda xp, a: xp.split(a, 3, axis=1), ValueError),
    ("concatenate-out-shape",
     lambda xp, a: xp.concatenate([a, a], out=xp.ones((5, 4))), ValueError),
    ("matmul-out-shape", lambda xp, a: xp.matmul(a, a.T, out=xp.ones((2, 2))), ValueError),
    ("add-none", lambda xp, a: a + None, TypeError),
    ("full-str-as-float", lambda xp, a: xp.full((2, 2), "abc", dtype=float), ValueError),
    ("full-int8-overflow", lambda xp, a: xp.full(3, 300, dtype=xp.int8), OverflowError),
    ("fft-n-0", lambda xp, a: xp.fft.fft(a, n=0), ValueError),
    ("fft2-s-0", lambda xp, a: xp.fft.fft2(a, s=(0, 2)), ValueError),
    ("eigvalsh-uplo", lambda xp, a: xp.linalg.eigvalsh(a[:3, :3], UPLO="x"), ValueError),
    ("tensordot-duplicate-axes",
     lambda xp, a: xp.tensordot(a, a, axes=([0, 0], [0, 0])), ValueError),
    ("uniform-size-mismatch",
     lambda xp, a: xp.random.uniform(low=a[0], size=(2, 2)), ValueError),
    ("cumsum-out-shape", lambda xp, a: xp.cumsum(a, out=xp.zeros(5)), ValueError),
    ("round-out-shape", lambda xp, a: xp.round(a, out=xp.zeros(5)), ValueError),
    ("fix-out-shape", lambda xp, a: xp.fix(a, out=xp.zeros(5)), ValueError),
    ("concatenate-out-and-dtype",
     lambda xp, a: xp.concatenate([a], out=xp.zeros((3, 4)), dtype=float), TypeError),
    ("concatenate-casting-no",
     lambda xp, a: xp.concatenate([a], out=xp.zeros((3, 4), "f4"), casting="no"), TypeError),
    ("hstack-casting-dtype",
     lambda xp, a: xp.hstack([a, a], casting="safe", dtype=xp.int64), TypeError),
    ("fft-out-shape", lambda xp, a: xp.fft.fft(a, out=xp.zeros((3, 5), complex)), ValueError),
    ("fft-out-kind", lambda xp, a: xp.fft.fft(a, out=xp.zeros((3, 4))), TypeError),
    ("fftn-s-axes-lengths", lambda xp, a: xp.fft.fftn(a, s=(2, 2), axes=(0,)), ValueError),
    ("einsum-no-operands", lambda xp, a: xp.einsum("ij"), ValueError),
    ("einsum-order", lambda xp, a: xp.einsum("ij", a, order="W"), ValueError),
]


@pytest.mark.parametrize(("name", "func", "exc"), RECORD_ERRORS,
                         ids=[r[0] for r in RECORD_ERRORS])
def test_error_at_recording_call(engine: str, name: str, func: Any, exc: type) -> None:
    with pytest.raises(exc) as np_info:
        func(numpy, numpy.ones((3, 4)))
    a = dagrt.ones((3, 4)) * 2           # pending on a worker under threaded-noinline
    with pytest.raises(exc) as info:
        func(dagrt, a)                   # raised here, before anything is synced
    assert type(info.value) is type(np_info.value)
    if exc is AxisError:
        assert str(info.value) == str(np_info.value)
    assert float(a.sum()) == 24.0        # the runtime is unharmed


# -- errors inside running operations -------------------------------------------------------

def _singular() -> Any:
    return dagrt.asarray([[1.0, 2.0], [2.0, 4.0]])


def test_linalg_error_surfaces_at_sync_with_site(engine: str, deferred: None) -> None:
    inv = dagrt.linalg.inv(_singular())  # RECORD-INV
    dependent = (inv + 1) * 2
    with pytest.raises(numpy.linalg.LinAlgError) as info:
        dependent.asnumpy()
    assert str(info.value) == "Singular matrix"  # NumPy's message, unchanged
    notes = "\n".join(info.value.__notes__)  # the recording site: a note
    assert f"dagrt: raised in op 'linalg.inv' recorded at {__file__}:{_line_of('RECORD-INV')}" \
        in notes
    assert info.value.dagrt_site[:2] == (__file__, _line_of("RECORD-INV"))
    with pytest.raises(numpy.linalg.LinAlgError):   # the buffer stays failed
        float(inv[0, 0])
    dagrt.waitall()                      # already reported: not raised again


def test_out_of_bounds_lazy_index() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        a = dagrt.arange(10.0)
        index = gate(dagrt.arange(5), event) * 3   # 0..12, still being computed
        picked = a[index]  # RECORD-INDEX
        assert picked.shape == (5,)
        event.set()
        with pytest.raises(IndexError) as info:
            print(picked)
    with pytest.raises(IndexError) as np_info:
        numpy.arange(10.0)[numpy.arange(5) * 3]
    assert str(np_info.value) == str(info.value)
    assert f"{__file__}:{_line_of('RECORD-INDEX')}" in info.value.__notes__[0]
    dagrt.waitall()


def test_out_of_bounds_index_any_engine(engine: str) -> None:
    """A computed index array: checked at the call if it is ready (as NumPy),
    else at the first sync point that needs the result."""
    a = dagrt.arange(10.0)
    index = dagrt.arange(5) * 3
    try:
        picked = a[index]
    except IndexError:
        assert index._var.nw == 0        # only an index already computed
        return
    with pytest.raises(IndexError, match="out of bounds"):
        picked.asnumpy()
    dagrt.waitall()


def test_setitem_lazy_index_error() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        a = dagrt.zeros(10)
        a[gate(dagrt.arange(3), event) * 5] = 1.0    # index 10 is out of bounds
        total = a.sum()
        event.set()
        with pytest.raises(IndexError):
            total.item()
        dagrt.waitall()


def test_dependents_do_not_run_and_carry_the_error() -> None:
    from dagrt.array.record import record
    ran = []

    def spy(x: Any) -> Any:
        ran.append(True)
        return x

    with dagrt.config(engine="threaded", inline_bytes=0):
        bad = dagrt.linalg.inv(_singular())
        out = dagrt.empty((2, 2))
        record("spy", spy, (bad,), {}, lambda: [out], [out], use_out=False)
        chained = out.T @ dagrt.ones((2, 3))
        with pytest.raises(numpy.linalg.LinAlgError) as first:
            chained.wait_to_read()
        with pytest.raises(numpy.linalg.LinAlgError) as second:
            float(out.sum())
        assert first.value is second.value       # the same error object
        assert not ran
        dagrt.waitall()


def test_independent_work_finishes() -> None:
    with dagrt.config(engine="threaded", inline_bytes=0):
        bad = dagrt.linalg.inv(_singular()) + 1
        good = [dagrt.arange(100_000.0) * i for i in range(8)]
        total = sum(float(g.sum()) for g in good)
        assert total == float(sum(numpy.arange(100_000.0).sum() * i for i in range(8)))
        with pytest.raises(numpy.linalg.LinAlgError):
            dagrt.waitall()
        with pytest.raises(numpy.linalg.LinAlgError):
            bad.tolist()


def test_waitall_raises_first_error_once(engine: str, deferred: None) -> None:
    first = dagrt.linalg.inv(_singular())  # RECORD-FIRST
    second = dagrt.linalg.inv(_singular() * 2)
    with pytest.raises(numpy.linalg.LinAlgError) as info:
        dagrt.waitall()
    assert f":{_line_of('RECORD-FIRST')} " in info.value.__notes__[0]
    dagrt.waitall()                      # once: not again
    dagrt.waitall()
    with pytest.raises(numpy.linalg.LinAlgError):  # failed buffers still raise when read
        second.asnumpy()
    with pytest.raises(numpy.linalg.LinAlgError):
        first.asnumpy()
    # the runtime keeps working
    b = (dagrt.ones((200, 200)) @ dagrt.ones((200, 200))).sum()
    assert float(b) == 200.0 ** 3
    dagrt.waitall()


def test_error_while_others_wait() -> None:
    """An op failing while a gate holds other work back: the error is kept until
    a sync point that needs it, other work is unaffected."""
    with dagrt.config(engine="threaded", inline_bytes=0):
        event = threading.Event()
        held = gate(dagrt.arange(1000.0), event)
        bad = dagrt.linalg.inv(_singular())
        with pytest.raises(numpy.linalg.LinAlgError):
            bad.wait_to_read()
        event.set()
        assert float(held.sum()) == float(numpy.arange(1000.0).sum())
        dagrt.waitall()


def test_memory_error_type_preserved(engine: str, deferred: None) -> None:
    from dagrt.array.record import record

    def boom(x: Any) -> Any:
        raise MemoryError("no room")

    a = dagrt.ones(3)
    out = dagrt.empty(3)
    record("boom", boom, (a,), {}, lambda: [out], [out], use_out=False)
    with pytest.raises(MemoryError, match="no room"):
        out.item(0)
    assert sys.exc_info()[0] is None
    dagrt.waitall()


# -- adversarial findings: poison, tracebacks, BaseException, threads ---------------------

def _frames(exc: BaseException) -> int:
    tb, n = exc.__traceback__, 0
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


def test_reading_a_poisoned_array_again_does_not_grow_its_traceback(
        engine: str, deferred: None) -> None:
    bad = dagrt.linalg.inv(_singular())
    counts = []
    for _ in range(20):
        with pytest.raises(numpy.linalg.LinAlgError) as info:
            bad.asnumpy()
        counts.append(_frames(info.value))
    assert counts[-1] == counts[1]  # the same depth at every read


def test_a_failed_op_does_not_pin_its_inputs() -> None:
    import gc
    import weakref

    with dagrt.config(engine="threaded", inline_bytes=0):
        singular = _singular()
        ref = weakref.ref(singular._data)
        bad = dagrt.linalg.inv(singular)
        del singular
        with pytest.raises(numpy.linalg.LinAlgError):
            bad.asnumpy()
        gc.collect()
        assert ref() is None  # neither the error's traceback nor the op keeps it


def test_writing_a_poisoned_array_whole_clears_it(engine: str, deferred: None) -> None:
    a = dagrt.linalg.inv(_singular())
    with pytest.raises(numpy.linalg.LinAlgError):
        a.sum().item()
    a[0, 0] = 7.0  # a partial write: the rest is still undefined
    with pytest.raises(numpy.linalg.LinAlgError):
        a.asnumpy()
    a += 1  # reads the poisoned value
    with pytest.raises(numpy.linalg.LinAlgError):
        a.asnumpy()
    a[...] = 1.0  # a whole write: a value again
    assert a.asnumpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]
    b = dagrt.linalg.inv(_singular())
    dagrt.add(dagrt.ones((2, 2)), 2, out=b)  # out= writes all of it
    assert b.asnumpy().tolist() == [[3.0, 3.0], [3.0, 3.0]]
    c = dagrt.linalg.inv(_singular())
    c.T[:] = 4.0  # a view of all of it
    assert float(c.sum()) == 16.0
    with pytest.raises(numpy.linalg.LinAlgError):
        dagrt.waitall()  # the errors themselves were not all read


def test_system_exit_in_a_kernel_fails_the_op_and_keeps_the_workers(noinline: None) -> None:
    from dagrt.array.operands import new_array
    from dagrt.array.record import record

    def leave(x: Any) -> Any:
        raise SystemExit(3)

    for _ in range(4):  # more than the workers: none may die
        out = record("leave", leave, (dagrt.ones(10),), {},
                     lambda: [new_array((10,), float)], use_out=False)[0]
        with pytest.raises(SystemExit):
            out.asnumpy()
    assert float((dagrt.ones(100_000) * 2).sum()) == 200_000.0


def test_keyboard_interrupt_in_a_serial_op_is_raised_once() -> None:
    from dagrt.array.operands import new_array
    from dagrt.array.record import record

    def interrupted(x: Any) -> Any:
        raise KeyboardInterrupt

    with dagrt.config(engine="serial", inline_bytes=0):
        x = dagrt.ones(10)
        with pytest.raises(KeyboardInterrupt):
            out = record("interrupted", interrupted, (x,), {},
                         lambda: [new_array((10,), float)], use_out=False)[0]
            after = out + 1  # noqa: F841
        dagrt.waitall()  # the caller saw it: not again
        assert float((x * 2).sum()) == 20.0


def test_waitall_reports_the_errors_of_its_own_thread() -> None:
    from dagrt.engine.scheduler import ENGINE

    with dagrt.config(engine="threaded", inline_bytes=0):
        other_failed = threading.Event()
        release = threading.Event()
        seen: list[BaseException] = []

        def other() -> None:
            dagrt.linalg.inv(_singular())
            ENGINE.drain()
            other_failed.set()
            release.wait(10)
            try:
                dagrt.waitall()
            except numpy.linalg.LinAlgError as exc:
                seen.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        assert other_failed.wait(10)
        dagrt.waitall()  # the other thread's error is not this thread's
        release.set()
        thread.join(10)
        assert len(seen) == 1  # ... it is the other thread's


def test_imag_of_a_pending_real_array_is_read_only(engine: str) -> None:
    y = dagrt.ones(100_000) * 2
    assert y.imag.flags.writeable is False
    assert numpy.ones(3).imag.flags.writeable is False
    assert float(y.imag.sum()) == 0.0


def test_overlapping_inplace_op_does_not_make_later_writes_read_only(noinline: None) -> None:
    """NumPy holds the read-only flag on a buffer while an overlapping in-place
    op writes back through a copy; the recording thread must not take that
    moment's flag for the user's (item 5 of the adversarial findings)."""
    for _ in range(5):
        a = dagrt.ones((1000, 1000))
        a += a.T
        a[0, 0] = 5.0          # recorded while the worker may be writing back
        view = a[1:]           # a view taken meanwhile
        a[mask(a)] = 1.0
        dagrt.waitall()
        view[0, 0] = 3.0
        assert view.flags.writeable
        assert float(a[0, 0]) == 1.0 and float(a[1, 0]) == 3.0


def mask(a: Any) -> Any:
    return a > 4.0


def test_exit_runs_what_is_pending_and_tells_of_unread_errors() -> None:
    """A script that ends with ops pending: they run (their warnings print, as
    NumPy's would have), and an error no sync point raised is printed, with
    its recording line, rather than lost."""
    result = run_python(
        "import dagrt as np\n"
        "x = np.zeros(400_000)\n"
        "k = x / 0\n"
        "m = np.linalg.inv(np.zeros((64, 64)))\n"
        "print('end')\n", env={"DAGRT_INLINE_BYTES": "0"})
    assert result.returncode == 0 and result.stdout == "end\n"
    assert "<string>:3: RuntimeWarning: invalid value encountered in divide" in result.stderr
    assert "dagrt: an operation failed and no sync point raised its error:" in result.stderr
    assert "LinAlgError: Singular matrix" in result.stderr
    assert "recorded at <string>:4" in result.stderr, result.stderr


@pytest.mark.parametrize("index", [[1, -1, 9], [[1, 2], [3, -10]], [10], [-11, 3], [], [2 ** 40],
                                   [[0, 1], [12, 99]]])
@pytest.mark.parametrize("inline", [True, False])
def test_gather_with_a_ready_index_checks_bounds_at_the_call(index: Any, inline: bool) -> None:
    """``x[idx]`` deferred with a ready index array: NumPy's shape, and its
    IndexError (the first index out of bounds, NumPy's message) at the call,
    found from the index's extremes, not by indexing a stand-in."""
    idx = numpy.array(index, dtype=numpy.intp)
    with dagrt.config(inline_bytes=65536 if inline else 0):
        for key in (idx, dagrt.asarray(idx), idx.astype(numpy.uint64) if idx.min(
                initial=0) >= 0 else idx):
            try:
                expected = numpy.arange(10.0).reshape(10, 1)[key if type(key) is not
                                                            dagrt.ndarray else idx]
            except IndexError as exc:
                with pytest.raises(IndexError, match=re.escape(str(exc))):
                    dagrt.arange(10.0).reshape(10, 1)[key]
                continue
            got = dagrt.arange(10.0).reshape(10, 1)[key]
            assert got.shape == expected.shape
            numpy.testing.assert_array_equal(got.asnumpy(), expected)
