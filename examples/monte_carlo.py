"""Monte-Carlo pricing of an arithmetic-average Asian call option.

Stock paths follow geometric Brownian motion, simulated in time steps for a
batch of paths at once; the payoff depends on the average price along each
path, so there is no closed form. As a check, the same paths also price a
European call, whose Black-Scholes value is known exactly.

The simulation runs on independent random streams (one generator each, as
one would to split work or to get reproducible sub-streams); each stream's
paths are stepped with its own normal draws, so dagrt can advance the streams
concurrently. The estimates of all streams are pooled at the end.

    python examples/monte_carlo.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

import math
from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.monte_carlo
    from ._backend import run

S0, STRIKE, RATE, VOL, MATURITY = 100.0, 105.0, 0.03, 0.25, 1.0


def black_scholes_call(s: float, k: float, r: float, sigma: float, t: float) -> float:
    d1 = (math.log(s / k) + (r + sigma * sigma / 2) * t) / (sigma * math.sqrt(t))
    d2 = d1 - sigma * math.sqrt(t)
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    return s * cdf(d1) - k * math.exp(-r * t) * cdf(d2)


def main(np: ModuleType, quick: bool = False) -> list[str]:
    n_streams, paths, steps = (4, 2_000, 16) if quick else (4, 250_000, 48)
    dt = MATURITY / steps
    drift = (RATE - 0.5 * VOL * VOL) * dt
    shock = VOL * np.sqrt(dt)
    streams = [np.random.default_rng(seed) for seed in
               np.random.SeedSequence(2024).spawn(n_streams)]

    prices = [np.full(paths, S0) for _ in streams]
    running = [np.zeros(paths) for _ in streams]
    for _ in range(steps):
        for rng, s, total in zip(streams, prices, running):
            z = rng.standard_normal(paths)
            s *= np.exp(drift + shock * z)
            total += s

    discount = np.exp(-RATE * MATURITY)
    asian = np.concatenate([np.maximum(total / steps - STRIKE, 0.0) for total in running])
    european = np.concatenate([np.maximum(s - STRIKE, 0.0) for s in prices])
    n = asian.size
    lines = [f"Monte Carlo: {n_streams} streams x {paths} paths, {steps} steps"]
    for name, payoff in (("Asian call", asian), ("European call", european)):
        price = discount * payoff.mean()
        stderr = discount * payoff.std() / np.sqrt(n)
        lines.append(f"{name:<14} {float(price):10.6f} +/- {float(stderr):.6f}")
    exact = black_scholes_call(S0, STRIKE, RATE, VOL, MATURITY)
    lines.append(f"Black-Scholes  {exact:10.6f}")
    terminal = np.concatenate(prices)
    lines.append(f"mean terminal price {float(terminal.mean()):.6f} "
                 f"(expected {S0 * math.exp(RATE * MATURITY):.6f})")
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
