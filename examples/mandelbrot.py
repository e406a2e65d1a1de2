"""The Mandelbrot set: escape-time iteration on grids of complex numbers.

Several views (the whole set and a few well-known regions) are rendered with
the vectorised escape-time algorithm: ``z = z**2 + c`` for every point still
inside the escape radius, counting iterations. The views are independent and
iterated side by side, so dagrt can compute them concurrently. Prints, per
view, the iteration total and the fraction of points that never escaped, and
a coarse ASCII picture of the first view.

    python examples/mandelbrot.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.mandelbrot
    from ._backend import run

VIEWS = {  # name: (centre, width)
    "full set": (-0.5 + 0.0j, 3.0),
    "seahorse valley": (-0.745 + 0.105j, 0.05),
    "elephant valley": (0.28 + 0.008j, 0.04),
    "mini mandelbrot": (-1.7687 + 0.0017j, 0.004),
}


def grid(np: ModuleType, centre: complex, width: float, rows: int, cols: int):
    height = width * rows / cols
    x = np.linspace(centre.real - width / 2, centre.real + width / 2, cols)
    y = np.linspace(centre.imag - height / 2, centre.imag + height / 2, rows)
    return x[None, :] + 1j * y[:, None]


def main(np: ModuleType, quick: bool = False) -> list[str]:
    rows, cols, max_iter = (48, 64, 40) if quick else (400, 600, 100)
    cs = [grid(np, centre, width, rows, cols) for centre, width in VIEWS.values()]
    zs = [np.zeros_like(c) for c in cs]
    counts = [np.zeros(c.shape, dtype=np.int64) for c in cs]

    for _ in range(max_iter):
        for z, c, n in zip(zs, cs, counts):
            inside = z.real * z.real + z.imag * z.imag <= 4.0
            z[...] = np.where(inside, z * z + c, z)
            n += inside

    lines = [f"Mandelbrot: {len(VIEWS)} views of {rows}x{cols}, {max_iter} iterations"]
    for name, n in zip(VIEWS, counts):
        lines.append(f"{name:<16} iterations {int(n.sum()):>10}  "
                     f"in set {float((n == max_iter).mean()):.6f}")
    shades = " .:-=+*#%@"
    levels = (counts[0][:: rows // 12, :: cols // 48] * (len(shades) - 1)) // max_iter
    for row in levels.tolist():
        lines.append("".join(shades[v] for v in row))
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
