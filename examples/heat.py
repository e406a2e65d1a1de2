"""2-D heat diffusion: an explicit five-point stencil on several plates.

A parameter study: square plates of different materials (diffusivities) start
from the same hot spots and cool through their edges, held at 0 degrees. Each
time step applies the explicit finite-difference update

    u[i, j] += r * (u[i-1, j] + u[i+1, j] + u[i, j-1] + u[i, j+1] - 4 u[i, j])

to the interior of every plate with array slices. The plates are independent,
so dagrt can step them concurrently.

    python examples/heat.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.heat
    from ._backend import run


def initial_plate(np: ModuleType, size: int, seed: int):
    """Room temperature with a few hot discs (random centres and radii)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, size)
    xx, yy = x[None, :], x[:, None]
    u = np.full((size, size), 20.0)
    for cx, cy, radius in rng.uniform([0.2, 0.2, 0.05], [0.8, 0.8, 0.15], size=(5, 3)).tolist():
        u = np.where((xx - cx) ** 2 + (yy - cy) ** 2 < radius ** 2, 100.0, u)
    u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = 0.0
    return u


def step(u, r: float) -> None:
    """One explicit Euler step of the heat equation, in place."""
    lap = (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
           - 4.0 * u[1:-1, 1:-1])
    u[1:-1, 1:-1] += r * lap


def main(np: ModuleType, quick: bool = False) -> list[str]:
    if quick:
        size, steps, report = 64, 60, 20
    else:
        size, steps, report = 400, 400, 100
    materials = {"copper": 1.11e-4, "aluminium": 9.7e-5, "iron": 2.3e-5, "glass": 3.4e-7}
    dx = 1.0 / (size - 1)
    dt = 0.2 * dx * dx / max(materials.values())  # stable: r <= 1/4 for every plate
    u0 = initial_plate(np, size, seed=0)
    plates = {name: u0.copy() for name in materials}
    rates = {name: alpha * dt / dx ** 2 for name, alpha in materials.items()}

    mid = slice(size // 2 - 1, size // 2 + 2)  # the 3x3 cells at the centre
    snapshots = []
    for n in range(1, steps + 1):
        for name, u in plates.items():
            step(u, rates[name])
        if n % report == 0:
            snapshots.append((n, {name: (u.sum() * dx * dx, u.max(), u[mid, mid].mean())
                                  for name, u in plates.items()}))

    lines = [f"heat: {len(plates)} plates of {size}x{size}, {steps} steps, dt={dt:.6g} s"]
    for n, stats in snapshots:
        lines.append(f"t = {n * dt:10.4f} s")
        for name, (heat, peak, centre) in stats.items():
            lines.append(f"  {name:<10} heat {float(heat):12.6f}  max {float(peak):10.6f}  "
                         f"centre {float(centre):10.6f}")
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
