"""A recurrent network (Elman RNN) run over a long sequence, as in inference.

Each step's hidden state depends on the one before: ``h = tanh(x_t @ Wx +
h @ Wh + b)``, the inputs drawn as the sequence goes. The products with the
inputs could run ahead of the recurrence, but the recurrence itself is one
dependent chain of mid-sized matrix products (batch 128, 256 hidden units:
about a millisecond each), the pattern where handing every op to a worker
cannot pay: each op waits for the one before, and BLAS loses its threads to
the workers. dagrt must still take NumPy's time here. The summary statistics
of the states are printed at the end.

    python examples/rnn.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.rnn
    from ._backend import run


def main(np: ModuleType, quick: bool = False) -> list[str]:
    batch, features, hidden, steps = (16, 8, 32, 20) if quick else (128, 64, 256, 2500)
    rng = np.random.default_rng(7)
    Wx = rng.standard_normal((features, hidden)) / np.sqrt(features)
    Wh = rng.standard_normal((hidden, hidden)) * (0.9 / np.sqrt(hidden))
    b = 0.1 * rng.standard_normal(hidden)
    h = np.zeros((batch, hidden))
    total = np.zeros((batch, hidden))
    for _ in range(steps):
        x = rng.standard_normal((batch, features))  # the sequence's next inputs
        h = np.tanh(x @ Wx + h @ Wh + b)
        total += h
    mean_state = total / steps
    lines = [f"RNN: batch {batch}, {features} features, {hidden} hidden units, {steps} steps",
             f"final state: mean {float(h.mean()):.6f}  std {float(h.std()):.6f}  "
             f"|h| {float(np.linalg.norm(h)):.5f}",
             f"mean state:  mean {float(mean_state.mean()):.6f}  "
             f"max {float(np.abs(mean_state).max()):.6f}"]
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
