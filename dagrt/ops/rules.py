"""Shape and dtype rules: what an operation will produce, without running it.

Rules run on *meta* arrays, never on data:

- elementwise: broadcasting of the operands' shapes, and the dtype NumPy gives
  when the function is applied to zero-length arrays of the operands' dtypes
  (Python scalars stay Python scalars, so NEP 50 promotion is NumPy's own);
- reductions: the function applied to an all-ones array of at most 2 along
  each axis (validating ``axis``/``dtype`` with NumPy's own errors);
- data movement (concatenate, stack, tile, reshape...): the function applied
  to arrays of a zero-byte dtype (``np.dtype([])``), which NumPy shapes, checks
  and moves without touching memory;
- contractions: explicit rules (matmul, dot, tensordot, einsum).

Errors NumPy would raise for bad shapes, axes or dtypes are raised here, at
the recording call, with NumPy's exception types.

Imports nothing from dagrt.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

Shape = tuple[int, ...]
V0 = np.dtype([])
ELIDE_BYTES = 1 << 18  # NumPy elides temporaries of at least 256 KiB


def _fmt_shape(shape: Shape) -> str:
    return "(" + ",".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """Broadcast shapes, failing with NumPy's ufunc message."""
    first = shapes[0]
    if all(s == first for s in shapes):
        return first
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError("operands could not be broadcast together with shapes "
                         + " ".join(map(_fmt_shape, shapes)) + " ") from None


@functools.cache
def empty0(dtype: np.dtype) -> np.ndarray:
    """A zero-length array of ``dtype``: the meta operand of elementwise rules."""
    return np.empty((0,), dtype)


def zero_bytes(shape: Shape) -> np.ndarray:
    """An array of ``shape`` whose elements take no memory."""
    return np.empty(shape, V0)


_DTYPE_CACHE: dict[Any, list[np.dtype]] = {}


def elementwise_dtypes(func: Any, meta_args: list[Any], meta_kwargs: dict[str, Any]
                       ) -> list[np.dtype]:
    """The output dtype(s) of an elementwise function on the given meta operands.

    Cached by the operands' dtypes and scalar types, except where a Python int
    meets an integer array: NumPy then checks the int's value (NEP 50).
    """
    key = None
    if not meta_kwargs:
        key = (func, *[a.dtype if type(a) is np.ndarray else type(a) for a in meta_args])
        if int in key and any(type(a) is np.ndarray and a.dtype.kind in "iu"
                              for a in meta_args):
            key = None
        else:
            cached = _DTYPE_CACHE.get(key)
            if cached is not None:
                return cached
    result = func(*meta_args, **meta_kwargs)
    dtypes = [np.asarray(r).dtype for r in result] if isinstance(result, tuple) \
        else [np.asarray(result).dtype]
    if any(d.kind == "O" for d in dtypes) and not any(
            type(a) is np.ndarray and a.dtype.kind == "O" for a in meta_args):
        # A Python object met numeric arrays (``x + None``): NumPy's object
        # loop calls the operator per element. One element shows its error.
        func(*[np.ones(1, a.dtype) if type(a) is np.ndarray else a for a in meta_args],
             **meta_kwargs)
    if key is not None and len(_DTYPE_CACHE) < 4096:
        _DTYPE_CACHE[key] = dtypes
    return dtypes


def c_strides(shape: Shape, itemsize: int) -> Any:
    """What :func:`k_order` reads of a C-ordered array of ``shape`` (without one)."""
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return types.SimpleNamespace(ndim=len(shape), shape=tuple(shape),
                                 strides=tuple(reversed(strides)),
                                 flags=types.SimpleNamespace(c_contiguous=True))


def k_order(shape: Shape, operands: Sequence[Any], kept: Sequence[int] | None = None
            ) -> tuple[int, ...] | None:
    """The order of the axes (outermost first) in which NumPy allocates the
    result of an elementwise op of broadcast ``shape`` on ``operands``
    (``order="K"``): its iterator's axis sort, ported from NumPy's
    ``npyiter_find_best_axis_ordering`` (a stable insertion sort by stride,
    ignoring broadcast and length-1 axes, C order winning conflicts between
    operands). For a reduction, ``operands`` is the input and ``kept`` the
    axes of the result (length-1 ones included with keepdims). None: C order."""
    ndim = len(shape)
    if ndim < 2 or all(op.flags.c_contiguous for op in operands if getattr(op, "ndim", 0)):
        return None  # (the common case, at once)
    strides = [[0] * (ndim - op.ndim) + [st if n != 1 else 0 for st, n in
                                          zip(op.strides, op.shape)]
               for op in operands if getattr(op, "ndim", 0)]
    if ndim < 2 or not strides:
        return None
    perm = list(range(ndim - 1, -1, -1))  # innermost first, as NumPy's axis data
    for i0 in range(1, ndim):
        j0, insert = perm[i0], i0
        for i1 in range(i0 - 1, -1, -1):
            j1 = perm[i1]
            ambiguous, swap = True, False
            for st in strides:
                if st[j0] and st[j1]:
                    if abs(st[j1]) <= abs(st[j0]):
                        swap = False
                    elif ambiguous:
                        swap = True
                    ambiguous = False
            if not ambiguous:
                if not swap:
                    break
                insert = i1
        if insert != i0:
            perm.insert(insert, perm.pop(i0))
    order = perm[::-1]
    if kept is not None:
        order = [kept.index(ax) for ax in order if ax in kept]
    return None if order == sorted(order) else tuple(order)


def reduced_shape(shape: Shape, axis: Any, keepdims: bool) -> Shape:
    if axis is None:
        axes = tuple(range(len(shape)))
    else:
        axes = normalize_axis_tuple(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reduction_meta(shape: Shape, dtype: np.dtype) -> np.ndarray:
    return np.ones(tuple(min(d, 2) for d in shape), dtype)


def _need_dims(name: str, index: int, ndim: int) -> None:
    if ndim == 0:
        raise ValueError(f"{name}: Input operand {index} does not have enough "
                         f"dimensions (has 0, gufunc core with signature "
                         f"(n?,k),(k,m?)->(n?,m?) requires 1)")


def matmul_shape(a: Shape, b: Shape) -> Shape:
    _need_dims("matmul", 0, len(a))
    _need_dims("matmul", 1, len(b))
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(
            "matmul: Input operand 1 has a mismatch in its core dimension 0, with "
            f"gufunc signature (n?,k),(k,m?)->(n?,m?) (size {b2[-2]} is different "
            f"from {a2[-1]})")
    batch = broadcast([a2[:-2], b2[:-2]])
    return batch + (() if len(a) == 1 else (a2[-2],)) + (() if len(b) == 1 else (b2[-1],))


def dot_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        return broadcast([a, b])
    k_b = 0 if len(b) == 1 else len(b) - 2
    if a[-1] != b[k_b]:
        raise ValueError(f"shapes {a} and {b} not aligned: {a[-1]} (dim {len(a) - 1}) "
                         f"!= {b[k_b]} (dim {k_b})")
    return a[:-1] + (b[:-2] + b[-1:] if len(b) > 1 else ())


def inner_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        return broadcast([a, b])
    if a[-1] != b[-1]:
        raise ValueError(f"shapes {a} and {b} not aligned: {a[-1]} (dim {len(a) - 1}) "
                         f"!= {b[-1]} (dim {len(b) - 1})")
    return a[:-1] + b[:-1]


def tensordot_shape(a: Shape, b: Shape, axes: Any) -> Shape:
    if isinstance(axes, (int, np.integer)):
        axes = int(axes)
        if axes < 0:
            raise ValueError("axes must be at least 0")
        a_axes, b_axes = list(range(len(a) - axes, len(a))), list(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError("shape-mismatch for sum")
    a_axes = [normalize_axis_tuple(x, len(a))[0] for x in a_axes]
    b_axes = [normalize_axis_tuple(x, len(b))[0] for x in b_axes]
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes):
        raise ValueError("duplicate axes are not allowed in tensordot")
    if any(a[i] != b[j] for i, j in zip(a_axes, b_axes)):
        raise ValueError("shape-mismatch for sum")
    return (tuple(d for i, d in enumerate(a) if i not in a_axes)
            + tuple(d for i, d in enumerate(b) if i not in b_axes))


def einsum_shape(subscripts: str, shapes: Sequence[Shape]) -> Shape:
    """Output shape of ``np.einsum(subscripts, *operands)`` (string form)."""
    subs = subscripts.replace(" ", "")
    inputs, arrow, output = subs.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError("more operands provided to einstein sum function than "
                         "specified in the subscripts string" if len(shapes) > len(terms)
                         else "fewer operands provided to einstein sum function than "
                         "specified in the subscripts string")
    sizes: dict[str, int] = {}
    ellipsis: Shape = ()
    counts: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        if "..." in term:
            pre, post = term.split("...")
            n_ell = len(shape) - len(pre) - len(post)
            if n_ell < 0:
                raise ValueError("einstein sum subscripts string contains too many "
                                 "subscripts for operand")
            ellipsis = broadcast([ellipsis, shape[len(pre):len(pre) + n_ell]])
            labels, dims = pre + post, shape[:len(pre)] + shape[len(pre) + n_ell:]
        else:
            if len(term) != len(shape):
                raise ValueError("operand has more dimensions than subscripts given in "
                                 "einstein sum, but no '...' ellipsis provided to "
                                 "broadcast the extra dimensions." if len(shape) > len(term)
                                 else "einstein sum subscripts string contains too many "
                                 "subscripts for operand")
            labels, dims = term, shape
        for label, dim in zip(labels, dims):
            counts[label] = counts.get(label, 0) + 1
            old = sizes.get(label)
            if old is not None and old != dim and 1 not in (old, dim):
                raise ValueError(f"operands could not be broadcast together with "
                                 f"remapped shapes [original->remapped]: size of "
                                 f"label '{label}' is {old} and {dim}")
            sizes[label] = dim if old in (None, 1) else old
    if not arrow:
        output = "..." + "".join(sorted(k for k, c in counts.items() if c == 1))
    result: list[int] = []
    pre, _, post = output.partition("...")
    for label in pre:
        result.append(sizes[label])
    if "..." in output or not arrow:
        result.extend(ellipsis)
    for label in post:
        result.append(sizes[label])
    return tuple(result)


def _core_dims(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    ins, outs = signature.replace(" ", "").split("->")
    parse = lambda part: [tuple(d.rstrip("?") for d in group.split(",") if d)
                          for group in re.findall(r"\(([^)]*)\)", part)]
    return parse(ins), parse(outs)


def gufunc_shape(func: Any, shapes: Sequence[Shape]) -> Shape:
    """Output shape of a generalized ufunc (vecdot, matvec...) from its signature."""
    if func is np.matmul:
        return matmul_shape(*shapes)
    ins, outs = _core_dims(func.signature)
    sizes: dict[str, int] = {}
    loops = []
    for i, (core, shape) in enumerate(zip(ins, shapes)):
        if len(shape) < len(core):
            raise ValueError(f"{func.__name__}: Input operand {i} does not have enough "
                             f"dimensions (has {len(shape)}, gufunc core with signature "
                             f"{func.signature} requires {len(core)})")
        split = len(shape) - len(core)
        loops.append(shape[:split])
        for j, (label, dim) in enumerate(zip(core, shape[split:])):
            if sizes.setdefault(label, dim) != dim:
                raise ValueError(f"{func.__name__}: Input operand {i} has a mismatch in "
                                 f"its core dimension {j}, with gufunc signature "
                                 f"{func.signature} (size {dim} is different from "
                                 f"{sizes[label]})")
    return broadcast(loops) + tuple(sizes[label] for label in outs[0])


def gufunc_meta(func: Any, index: int, x: Any) -> Any:
    """A one-element meta operand with the core dimensions of input ``index``."""
    if not hasattr(x, "dtype"):
        return x
    ndim = len(_core_dims(func.signature)[0][index])
    return np.zeros((1,) * max(ndim, 1), x.dtype)


def contraction_dtype(func: Any, dtypes: Sequence[np.dtype], **kwargs: Any) -> np.dtype:
    metas = [np.ones((1, 1), d) for d in dtypes]
    return np.asarray(func(*metas, **kwargs)).dtype


def result_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    return np.result_type(*dtypes)
