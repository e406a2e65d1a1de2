"""dagrt.fft, dagrt.linalg and dagrt.random functions recorded lazily, against
NumPy, under every engine."""

from __future__ import annotations

from typing import Any

import numpy
import pytest
from conftest import run_xp

import dagrt


def _x(xp: Any, shape: tuple[int, ...] = (6, 8), seed: int = 0) -> Any:
    return xp.asarray(numpy.random.default_rng(seed).random(shape))


FFT = {
    "fftfreq": lambda xp: xp.fft.fftfreq(8, 0.1),
    "rfftfreq": lambda xp: xp.fft.rfftfreq(9),
    "fftshift": lambda xp: xp.fft.fftshift(_x(xp)),
    "ifftshift_axes": lambda xp: xp.fft.ifftshift(_x(xp), axes=0),
    "fft_roundtrip": lambda xp: xp.fft.ifft(xp.fft.fft(_x(xp))).real,
    "rfft2": lambda xp: xp.fft.rfft2(_x(xp)),
}


@pytest.mark.parametrize("case", list(FFT))
def test_fft(case: str, engine: str) -> None:
    run_xp(lambda xp: FFT[case](xp), rtol=1e-12)


def _square(xp: Any) -> Any:
    a = numpy.random.default_rng(1).random((3, 4, 4)) + 4 * numpy.eye(4)
    return xp.asarray(a)


LINALG = {
    "matmul": lambda xp: xp.linalg.matmul(_square(xp), _square(xp)),
    "tensordot": lambda xp: xp.linalg.tensordot(_x(xp, (3, 4)), _x(xp, (4, 5)), axes=1),
    "vecdot": lambda xp: xp.linalg.vecdot(_x(xp, (3, 4)), _x(xp, (3, 4), 2)),
    "matrix_transpose": lambda xp: xp.linalg.matrix_transpose(_square(xp)),
    "diagonal": lambda xp: xp.linalg.diagonal(_square(xp), offset=1),
    "trace": lambda xp: xp.linalg.trace(_square(xp)),
    "outer": lambda xp: xp.linalg.outer(_x(xp, (4,)), _x(xp, (3,), 1)),
    "svdvals": lambda xp: xp.linalg.svdvals(_x(xp, (5, 3))),
    "cond": lambda xp: xp.linalg.cond(_square(xp)),
    "matrix_rank": lambda xp: xp.linalg.matrix_rank(_square(xp)),
    "matrix_rank_1d": lambda xp: xp.linalg.matrix_rank(xp.asarray([0.0, 1.0])),
    # several outputs: NumPy's named tuples, small (run now) and larger (deferred)
    "qr": lambda xp: tuple(xp.linalg.qr(_square(xp))),
    "qr_complete": lambda xp: tuple(xp.linalg.qr(_x(xp, (5, 3)), mode="complete")),
    "svd": lambda xp: xp.linalg.svd(_square(xp)).S,
    "svd_type": lambda xp: type(xp.linalg.svd(_square(xp))).__name__,
    "eigh": lambda xp: xp.linalg.eigh(_square(xp) + _square(xp).T).eigenvalues,
    "slogdet": lambda xp: tuple(xp.linalg.slogdet(_square(xp))),
    "qr_large": lambda xp: abs(xp.linalg.qr(_x(xp, (120, 120))).R).sum(),
}


@pytest.mark.parametrize("case", list(LINALG))
def test_linalg(case: str, engine: str) -> None:
    run_xp(lambda xp: LINALG[case](xp), rtol=1e-10)


def test_linalg_outer_rejects_matrices() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        dagrt.linalg.outer(dagrt.ones((2, 2)), dagrt.ones(2))


RANDOM = {
    "permutation_int": lambda rs: rs.permutation(10),
    "permutation_array": lambda rs: rs.permutation(rs_input(rs)),
    "shuffle": lambda rs: shuffled(rs),
}


def rs_input(rs: Any) -> Any:
    xp = dagrt if isinstance(rs, (dagrt.random.RandomState, dagrt.random.Generator)) else numpy
    return xp.arange(12.0).reshape(6, 2)


def shuffled(rs: Any) -> Any:
    x = rs_input(rs)
    rs.shuffle(x)
    return x


@pytest.mark.parametrize("case", list(RANDOM))
@pytest.mark.parametrize("kind", ["RandomState", "default_rng"])
def test_random_permutations_equal_numpy(case: str, kind: str, engine: str) -> None:
    def program(xp: Any) -> Any:
        rs = xp.random.RandomState(5) if kind == "RandomState" else xp.random.default_rng(5)
        first = rs.uniform(size=3)           # draws before and after stay in order
        result = RANDOM[case](rs)
        return first, result, rs.uniform(size=3)
    run_xp(program)


def test_legacy_module_permutation_and_shuffle(engine: str) -> None:
    def program(xp: Any) -> Any:
        xp.random.seed(3)
        p = xp.random.permutation(7)
        x = xp.arange(10)
        xp.random.shuffle(x)
        return p, x, xp.random.rand(2)
    run_xp(program)
