"""Subclasses of ``ndarray`` (``class Named(np.ndarray)`` with ``import dagrt as
np``), NumPy vs dagrt: the protocol of NumPy's "Subclassing ndarray" guide
(``__array_finalize__``, ``__array_wrap__``, ``__array_ufunc__``, view
casting, new-from-template), which class each method, operator and function
returns, and NumPy's values and aliasing through a subclass's views and
in-place ops under every engine.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy
import pytest
from conftest import assert_same, run_xp

import dagrt
from dagrt.array.ndarray import stands_for_scalar

_CLASSES: dict[Any, Any] = {}


def classes(xp: Any) -> Any:
    """The subclasses of ``xp.ndarray`` the tests use (made once per module)."""
    if xp in _CLASSES:
        return _CLASSES[xp]

    class S(xp.ndarray):  # the guide's "completely useless" subclass
        pass

    class Prior(xp.ndarray):  # joins (``concatenate``) keep it: a priority above 0
        __array_priority__ = 1.0

    class Info(xp.ndarray):  # the guide's RealisticInfoArray
        def __new__(cls, input_array: Any, info: Any = None) -> Any:
            obj = xp.asarray(input_array).view(cls)
            obj.info = info
            return obj

        def __array_finalize__(self, obj: Any) -> None:
            if obj is None:
                return
            self.info = getattr(obj, "info", None)

    class Traced(xp.ndarray):  # records the protocol's calls
        log: list[tuple[str, ...]] = []

        def __array_finalize__(self, obj: Any) -> None:
            Traced.log.append(("finalize", type(obj).__name__))
            self.info = getattr(obj, "info", None)

        def __array_wrap__(self, arr: Any, context: Any = None,
                           return_scalar: bool = False) -> Any:
            Traced.log.append(("wrap", type(arr).__name__, str(arr.shape)))
            return super().__array_wrap__(arr, context, return_scalar)

    class Silly(xp.ndarray):  # the guide's SillySubClass
        def __array_wrap__(self, arr: Any, context: Any = None,
                           return_scalar: bool = False) -> Any:
            return "I lost your data"

    class A(xp.ndarray):  # the guide's __array_ufunc__ example (test_ufunc_override_with_super)
        def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, out: Any = None,
                            **kwargs: Any) -> Any:
            args, in_no = [], []
            for i, input_ in enumerate(inputs):
                if isinstance(input_, A):
                    in_no.append(i)
                    args.append(input_.view(xp.ndarray))
                else:
                    args.append(input_)
            outputs, out_no = out, []
            if outputs:
                out_args = []
                for j, output in enumerate(outputs):
                    if isinstance(output, A):
                        out_no.append(j)
                        out_args.append(output.view(xp.ndarray))
                    else:
                        out_args.append(output)
                kwargs["out"] = tuple(out_args)
            else:
                outputs = (None,) * ufunc.nout
            info = {}
            if in_no:
                info["inputs"] = in_no
            if out_no:
                info["outputs"] = out_no
            results = super().__array_ufunc__(ufunc, method, *args, **kwargs)
            if results is NotImplemented:
                return NotImplemented
            if method == "at":
                if isinstance(inputs[0], A):
                    inputs[0].info = info
                return None
            if ufunc.nout == 1:
                results = (results,)
            results = tuple((xp.asarray(result).view(A) if output is None else output)
                            for result, output in zip(results, outputs))
            if results and isinstance(results[0], A):
                results[0].info = info
            return results[0] if len(results) == 1 else results

    class Symmetric(xp.ndarray):  # numpy-100, exercise 85
        def __setitem__(self, index: Any, value: Any) -> None:
            i, j = index
            super().__setitem__((i, j), value)
            super().__setitem__((j, i), value)

    class Rows(xp.ndarray):  # an override of __getitem__ calling super()
        def __getitem__(self, key: Any) -> Any:
            return super().__getitem__(key)

    _CLASSES[xp] = result = type("Classes", (), dict(
        S=S, Prior=Prior, Info=Info, Traced=Traced, Silly=Silly, A=A, Symmetric=Symmetric,
        Rows=Rows))
    return result


def kinds(r: Any) -> Any:
    """The class of a result, as comparable between NumPy and dagrt."""
    if isinstance(r, (tuple, list)):
        return type(r).__name__, [kinds(x) for x in r]
    if isinstance(r, dagrt.ndarray) and stands_for_scalar(r):  # (a pending NumPy scalar)
        return r.dtype.type.__name__
    if isinstance(r, (numpy.ndarray, dagrt.ndarray)):
        return "ndarray" if type(r) in (numpy.ndarray, dagrt.ndarray) else type(r).__name__
    return type(r).__name__


# -- which class each call returns ---------------------------------------------------

def _expressions(text: str) -> list[str]:
    """Whitespace-separated expressions, the spaces inside brackets kept."""
    out, depth, word = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch.isspace() and depth == 0:
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    return out + ([word] if word else [])


EXPRESSIONS = _expressions("""
a[1:] a[0] a[0,1] a[[0,1]] a[a>2] a[...,None] a.T a.mT a.real a.imag a.copy() a.ravel()
a.flatten() a.reshape(3,2) a.transpose() a.swapaxes(0,1) a.squeeze() a.astype(int)
a.view() a.view(xp.ndarray) a.sum() a.sum(0) a.prod(1) a.max() a.min(0) a.mean() a.std(0)
a.var() a.all() a.any(0) a.cumsum() a.cumprod(0) a.round() a.clip(1,3) a.conj()
a.argmax() a.argmax(0) a.argmin(1) a.argsort() a.nonzero() a.take([0,1]) a.repeat(2)
a.diagonal() a.trace() a.dot(a.T) v.dot(v) a.compress([1,0],0) a.tolist() a.item(0)
v.searchsorted(xp.asarray([2.0])) a+1 1+a a-v a*a a/2 a//2 a%2 a**2 -a abs(a) ~(a>1)
a==1 a<v a@a.T v@v divmod(a,2) xp.sin(a) xp.add(a,1) xp.add(i,v) xp.maximum(a,2)
xp.add.reduce(a) xp.add.reduce(a,1) xp.multiply.outer(v,v) xp.add.accumulate(v)
xp.sum(a) xp.sum(a,0) xp.mean(a,1) xp.max(a) xp.transpose(a) xp.reshape(a,6)
xp.squeeze(a) xp.ravel(a) xp.round(a) xp.clip(a,1,2) xp.cumsum(a) xp.sort(a)
xp.argsort(a) xp.take(a,[0]) xp.repeat(a,2) xp.diagonal(a) xp.trace(a) xp.nonzero(a)
xp.concatenate([a,a]) xp.stack([a,a]) xp.vstack([a,a]) xp.where(a>2,a,0)
xp.expand_dims(a,0) xp.atleast_3d(a) xp.flip(a) xp.roll(a,1) xp.rot90(a) xp.tile(a,2)
xp.diff(a) xp.unique(a) xp.median(a) xp.median(a,0) xp.average(a,0) xp.percentile(a,50)
xp.nansum(a) xp.nanmax(a,0) xp.isclose(a,a) xp.allclose(a,a) xp.zeros_like(a)
xp.ones_like(a) xp.full_like(a,2) xp.copy(a) xp.copy(a,subok=True)
xp.array(a) xp.array(a,subok=True) xp.asarray(a) xp.asanyarray(a) xp.ascontiguousarray(a)
xp.split(a,3,1) xp.meshgrid(v,v) xp.outer(v,v) xp.dot(a,a.T) xp.matmul(a,a.T)
xp.einsum("ij->ji",a) xp.tensordot(a,a.T,1) xp.kron(a,a) xp.pad(a,1) xp.append(a,a)
xp.delete(a,0) xp.insert(a,0,1) xp.broadcast_to(a,(2,2,3)) xp.count_nonzero(a)
xp.linalg.inv(sq) xp.linalg.solve(sq,sq) xp.linalg.det(sq) xp.linalg.norm(sq)
xp.linalg.norm(sq,axis=0) xp.linalg.eigh(sq) xp.linalg.svd(sq) xp.linalg.qr(sq)
xp.linalg.eigvalsh(sq) xp.linalg.pinv(sq) xp.linalg.matrix_power(sq,2) xp.fft.fft(v)
xp.linalg.solve(i[:2,None]*xp.eye(2)+1,sq) xp.linalg.solve(sq,xp.ones((2,1)))
xp.linalg.lstsq(xp.eye(2),v[:2]) xp.linalg.lstsq(sq,xp.ones(2))
[type(r).__name__ for r in a] list(v) xp.fix(a[0,...]) xp.broadcast_arrays(a,i,subok=True)
xp.broadcast_to(a,(2,2,3),subok=True) xp.lib.stride_tricks.sliding_window_view(v,2,subok=True)
xp.lib.stride_tricks.sliding_window_view(v,2) xp.lib.stride_tricks.as_strided(v,(2,),(8,))
xp.lib.stride_tricks.as_strided(v,(2,),(8,),subok=True) xp.float64(2.0)*a host+v v+host
xp.ones_like(a,subok=False) xp.full_like(a,0,None,"K",False) xp.zeros_like(a,None,"K",True)
xp.concatenate([p,p]) xp.stack([p,p]) xp.hstack([p,a]) xp.append(p,p) xp.resize(p,5) xp.block([p,p])
xp.where(p>1,p,0) xp.concatenate([a,p]) p+a a+p
""")


def _operands(xp: Any) -> dict[str, Any]:
    S, P = classes(xp).S, classes(xp).Prior
    return {"xp": xp, "a": xp.arange(1.0, 7.0).reshape(2, 3).view(S), "host": numpy.ones(3),
            "p": xp.arange(1.0, 7.0).reshape(2, 3).view(P),
            "v": xp.arange(1.0, 4.0).view(S), "i": xp.arange(3.0),
            "sq": (xp.arange(4.0).reshape(2, 2) + 3 * xp.eye(2)).view(S)}


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_result_class(engine: str, expression: str) -> None:
    """Each call returns NumPy's class (the subclass or the base class, or a
    scalar) and NumPy's values."""
    def program(xp: Any) -> Any:
        return eval(expression, _operands(xp))  # noqa: S307 (the test's own expressions)

    ours, theirs = program(dagrt), program(numpy)
    assert kinds(ours) == kinds(theirs)
    assert_same(theirs, ours)


# -- NumPy's guide, "Subclassing ndarray" ---------------------------------------------

def test_constructor_view_casting_and_template() -> None:
    """The guide's three ways an instance is made, and who ``obj`` is."""
    for xp in (numpy, dagrt):
        Traced = classes(xp).Traced
        Traced.log.clear()
        c = Traced((10,))
        cast = xp.arange(10).view(Traced)
        cv = c[:1]
        assert [type(x).__name__ for x in (c, cast, cv)] == ["Traced"] * 3
        assert Traced.log == [("finalize", "NoneType"), ("finalize", "ndarray"),
                              ("finalize", "Traced")]


@pytest.mark.parametrize("call", ["np.add(arr2, obj)", "obj * 2", "obj.sum()",
                                  "obj.reshape(5, 1).sum(0)", "obj[1:]", "obj.copy()",
                                  "np.sum(obj.reshape(5, 1), axis=0)", "obj.T"])
def test_array_wrap_and_finalize(engine: str, call: str) -> None:
    """``__array_wrap__`` gets the base-class result and the default makes an
    instance, finalized from the input (its ``info`` carried over)."""
    logs, results = [], []
    for xp in (numpy, dagrt):
        Traced = classes(xp).Traced
        obj = xp.arange(5).view(Traced)
        obj.info = "spam"
        arr2 = xp.arange(5) + 1
        Traced.log.clear()
        result = eval(call, {"np": xp, "obj": obj, "arr2": arr2})  # noqa: S307
        assert result.info == "spam"
        logs.append([e for e in Traced.log if e[0] == "wrap" or e[1] == "Traced"])
        results.append(result)
    # (NumPy also finalizes the output it allocates before a copy or ufunc fills it)
    assert [e for e in logs[1] if e not in logs[0]] == []
    assert [e for e in logs[0] if e[0] == "wrap"] == [e for e in logs[1] if e[0] == "wrap"]
    assert kinds(results[1]) == kinds(results[0])
    assert_same(results[0], results[1])


def test_silly_array_wrap() -> None:
    def program(xp: Any) -> Any:
        obj = xp.arange(5).view(classes(xp).Silly)
        return [xp.multiply(obj, xp.arange(5)), obj * 2, obj.sum(), repr(obj[1:])]
    assert program(dagrt) == program(numpy)


def test_array_ufunc_override_with_super(engine: str) -> None:
    """The guide's ``A``: the override sees every ufunc (and the ufunc-based
    methods, ``np.add.at``, outputs) and calls ``super().__array_ufunc__``."""
    def program(xp: Any) -> Any:
        A = classes(xp).A
        infos = []
        a = xp.arange(5.0).view(A)
        infos.append(xp.sin(a).info)
        infos.append(xp.sin(xp.arange(5.0), out=(a,)).info)
        a = xp.arange(5.0).view(A)
        b = xp.ones(1).view(A)
        c = a + b
        infos.append(c.info)
        a += b
        infos.append(a.info)
        infos.append(a.sum().info)
        xp.add.at(a, [0, 1], 1)
        infos.append(a.info)
        kinds_ = [kinds(r) for r in (a * 2, 2 * a, -a, a == 1, a @ a, xp.maximum(a, 2),
                                     xp.multiply.outer(a, a), divmod(a, 2))]
        return infos, kinds_, a.view(xp.ndarray), c.view(xp.ndarray)
    ours, theirs = program(dagrt), program(numpy)
    assert ours[:2] == theirs[:2]
    assert_same(theirs[2:], ours[2:])


def test_realistic_info_array(engine: str) -> None:
    def program(xp: Any) -> Any:
        Info = classes(xp).Info
        obj = Info(xp.arange(5), info="information")
        v = obj[1:]
        return [type(obj).__name__, obj.info, type(v).__name__, v.info, (obj + 1).info,
                xp.sqrt(obj).info, repr(obj), str(obj * 2), obj.view(xp.ndarray)]
    run_xp(lambda xp: program(xp))


# -- numpy-100 ------------------------------------------------------------------------

def test_numpy_100_exercises_63_and_85(engine: str) -> None:
    """An array with a name attribute; a symmetric array whose setitem sets both halves."""
    def program(xp: Any) -> Any:
        named = classes(xp).Info(xp.arange(10), "range_10")
        z = xp.random.default_rng(0).integers(0, 10, (5, 5))
        s = xp.asarray(z + z.T - xp.diag(z.diagonal())).view(classes(xp).Symmetric)
        s[2, 3] = 42
        return [named.info, named[2:].info, str(s), repr(s[1:3]), s.view(xp.ndarray)]
    run_xp(lambda xp: program(xp))


def test_override_calling_super_keeps_the_class() -> None:
    def program(xp: Any) -> Any:
        rows = xp.arange(6.0).reshape(2, 3).view(classes(xp).Rows)
        return [kinds(rows[0]), kinds(rows[:, 1:]), kinds(rows[0, 0]), kinds(rows.T[0])]
    assert program(dagrt) == program(numpy)


# -- values, views and in-place ops ---------------------------------------------------

def test_views_and_in_place_ops_alias_as_numpy(engine: str) -> None:
    """A subclass's views, in-place operators, setitem and out= write the
    same memory as NumPy's, in recording order."""
    def program(xp: Any) -> Any:
        S = classes(xp).S
        s = xp.arange(12.0).reshape(3, 4).view(S)
        t = s[1:]
        t += 1
        u = s * 2
        s[0] = u[2]
        w = s.T
        w[0, 0] = -1
        s[1:] += s[:-1]
        r = s.sum(0) + t.mean()
        x = xp.sin(s, out=s)
        plain = xp.zeros(4)
        plain += s[0]
        y = xp.asarray(s)
        y[2, 2] = 100.0
        return [s, t, u, w, r, x is s, plain, kinds([s, t, u, w, r, y])]
    run_xp(lambda xp: program(xp))


def test_pickle_copy_and_conversions() -> None:
    def program(xp: Any) -> Any:
        s = xp.arange(6.0).reshape(2, 3).view(classes(xp).Info)
        s.info = "kept"
        f = xp.asfortranarray(xp.arange(6.0).reshape(2, 3)).view(classes(xp).S)
        out = [copy.copy(s), copy.deepcopy(s), copy.copy(f)]
        return [kinds(out), [getattr(x, "info", None) for x in out[:2]],
                out[2].flags.f_contiguous, xp.asanyarray(s) is s, kinds(xp.asarray(s)),
                kinds(xp.array(s, subok=True)), repr(s), str(s)]
    assert program(dagrt) == program(numpy)


class Pickled(dagrt.ndarray):
    def __array_finalize__(self, obj: Any) -> None:
        self.made_from = obj


def test_pickle_keeps_the_class() -> None:
    """As NumPy's: the class and the values come back, made by the explicit
    constructor (``obj`` None; instance attributes are not pickled)."""
    x = dagrt.arange(6.0).reshape(2, 3).view(Pickled)
    y = pickle.loads(pickle.dumps(x))
    assert type(y) is Pickled and y.made_from is None
    assert_same(numpy.arange(6.0).reshape(2, 3), y.view(dagrt.ndarray))


def test_explicit_constructor_with_buffer() -> None:
    def program(xp: Any) -> Any:
        S = classes(xp).S
        buffer = numpy.arange(6.0)
        x = S((2, 2), float, buffer, 8)
        y = S(3, dtype="i4", order="F")
        return [kinds(x), x.view(xp.ndarray), y.shape, y.dtype]
    ours, theirs = program(dagrt), program(numpy)
    assert ours[0] == theirs[0] and ours[2:] == theirs[2:]
    assert_same(theirs[1], ours[1])


def test_view_of_other_types_raises_as_numpy() -> None:
    with pytest.raises(TypeError):
        dagrt.arange(3.0).view(list)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # (NumPy's, for matrix)
def test_view_as_a_numpy_subclass_is_numpys_view_of_the_storage() -> None:
    """``x.view(ma.MaskedArray)`` (NumPy's reference, "The numpy.ma module"),
    ``x.view(np.matrix)``: NumPy's object on the same memory, as
    ``np.asarray(x).view(cls)`` (it raised TypeError)."""
    x = dagrt.arange(6.0).reshape(2, 3) * 2  # (pending or not: waited for)
    m = x.view(numpy.ma.MaskedArray)
    assert type(m) is numpy.ma.MaskedArray and m.tolist() == (numpy.arange(6.0) * 2).reshape(
        2, 3).tolist()
    m[0, 0] = -1.0
    assert float(x[0, 0]) == -1.0  # (the same memory, as NumPy's view)
    assert type(x.view(numpy.matrix)) is numpy.matrix
    assert x.view("i8", numpy.ma.MaskedArray).dtype == numpy.int64
    s = dagrt.zeros(2, dtype=[("a", "i8"), ("b", "f8")])
    assert s.view(numpy.ma.MaskedArray).mask.dtype.names == ("a", "b")


def test_errors_surface_with_the_subclass(engine: str) -> None:
    """Bad arguments raise NumPy's error at the call; the runtime goes on."""
    def program(xp: Any) -> Any:
        s = xp.arange(6.0).view(classes(xp).S)
        return s + xp.ones(4)
    with pytest.raises(ValueError):
        program(numpy)
    with pytest.raises(ValueError):
        program(dagrt)
    assert float(dagrt.arange(3.0).view(classes(dagrt).S).sum()) == 3.0


def test_results_made_subclass_stay_observable(engine: str) -> None:
    """A ufunc's result taken into the subclass keeps its storage: the fused
    engine must not take it for a temporary nothing observes (its plain
    result is gone, the subclass's instance is not)."""
    def program(xp: Any) -> Any:
        a = xp.arange(96.0 * 96).reshape(96, 96).view(classes(xp).S)
        t = a * 2
        u = t + 1
        w = xp.sin(t) * u
        return [t, u, w, kinds([t, u, w])]
    run_xp(lambda xp: program(xp))


def test_base_of_views_stops_at_another_class() -> None:
    """NumPy's ``base`` collapses a chain of views only through arrays of the
    view's own class (NumPy's TestSubclasses::test_basic)."""
    def program(xp: Any) -> Any:
        S = classes(xp).S
        a = xp.arange(6)
        s = a.view(S)
        v = a[1:]
        w = v.view(S)
        return [s.base is a, s[:3].base is s, s[:3][1:].base is s, s.T.base is s,
                w.base is v, type(s[[0, 1]].base).__name__, type(s[s > 0].base).__name__,
                type((s + 1).base).__name__]
    assert program(dagrt) == program(numpy)


def test_ufunc_subok_out_context_and_where(engine: str) -> None:
    """``subok=False`` gives the base class; ``__array_wrap__``'s context holds
    the outputs given; a subclass's ``where=`` is an operand like the others."""
    def program(xp: Any) -> Any:
        seen = []

        class W(xp.ndarray):
            def __array_wrap__(self, obj: Any, context: Any = None,
                               return_scalar: bool = False) -> Any:
                seen.append(len(context[1]))
                return obj

        a = xp.zeros(3).view(W)
        kinds_ = [kinds(xp.add(a, 2, subok=False)), kinds(xp.add(a, 2, subok=True))]
        xp.add(0, 0, a)
        xp.add(0, 0, out=a)
        where = xp.asarray([True, False, True]).view(classes(xp).S)
        out = xp.zeros(3)
        xp.negative(xp.arange(3.0), where=where, out=out)
        return kinds_, seen, out
    ours, theirs = program(dagrt), program(numpy)
    assert ours[:2] == theirs[:2]
    assert_same(theirs[2], ours[2])


def test_record_arrays(engine: str) -> None:
    """``x.view(np.recarray)`` (NumPy's guide "Structured arrays",
    scipy-lectures' "Advanced NumPy"): fields as attributes, views of ``x``,
    records as elements, NumPy's repr; the explicit constructor with
    ``formats``/``names``."""
    def program(xp: Any) -> Any:
        arr = xp.array([("a", 1), ("b", 2)], dtype=[("x", "S1"), ("y", int)])
        rec = arr.view(xp.recarray)
        rec.y = [5, 6]
        rec.y += 1
        made = xp.recarray((2,), formats="i4,f8", names="p,q")
        made.p = 1
        made.q = [0.5, 1.5]
        nested = xp.zeros(2, dtype=[("p", [("u", "i4"), ("v", "i4")]), ("w", "f8")])
        nested = nested.view(xp.recarray)
        typed = arr.view(dtype=xp.dtype((xp.record, arr.dtype)), type=xp.recarray)
        back = typed.view(typed.dtype.fields or typed.dtype, xp.ndarray)
        return [repr(rec), repr(rec.x), repr(arr), repr(rec[0]), type(rec[0]).__name__,
                repr(made), kinds([rec, rec.y, made.p, nested.p, nested.p.u, back]),
                str(back.dtype), hasattr(rec, "nope")]
    assert program(dagrt) == program(numpy)
