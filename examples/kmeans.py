"""k-means clustering (Lloyd's algorithm) with several random restarts.

Synthetic Gaussian blobs are clustered ``n_init`` times from different random
initial centroids (as scikit-learn's ``n_init`` does) and the restart with the
lowest inertia wins. The restarts are independent: they are stepped in
lockstep, one Lloyd iteration each per pass, so that dagrt can run them
concurrently.

    python examples/kmeans.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.kmeans
    from ._backend import run


def make_blobs(np: ModuleType, n: int, k: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10.0, 10.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = centers[labels] + rng.normal(0.0, 1.5, size=(n, d))
    return X


def assign(np: ModuleType, X, C, x2):
    """Nearest centroid of each point, and its squared distance.

    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2``: one matrix product instead of an
    (n, k, d) array of differences; ``x2`` is ``|x|^2`` for every point.
    """
    d2 = x2[:, None] - 2.0 * (X @ C.T) + (C * C).sum(axis=1)  # (n, k)
    return d2.argmin(axis=1), d2.min(axis=1)


def update(np: ModuleType, X, C, labels):
    """New centroids: the mean of each cluster (empty clusters stay put)."""
    k = C.shape[0]
    onehot = (labels[:, None] == np.arange(k)).astype(X.dtype)  # (n, k)
    counts = onehot.sum(axis=0)                                  # (k,)
    means = (onehot.T @ X) / np.maximum(counts, 1.0)[:, None]   # (k, d)
    return np.where(counts[:, None] > 0, means, C)


def main(np: ModuleType, quick: bool = False) -> list[str]:
    if quick:
        n, k, d, n_init, iters = 2_000, 5, 3, 3, 8
    else:
        n, k, d, n_init, iters = 100_000, 8, 4, 4, 20
    X = make_blobs(np, n, k, d, seed=0)
    x2 = (X * X).sum(axis=1)

    # Independent restarts, each from k data points drawn at random.
    rng = np.random.default_rng(1)
    centroids = [X[rng.integers(0, n, size=k)] for _ in range(n_init)]
    history = [[] for _ in range(n_init)]
    for _ in range(iters):
        for r in range(n_init):
            labels, dist = assign(np, X, centroids[r], x2)
            history[r].append(dist.sum())
            centroids[r] = update(np, X, centroids[r], labels)
    inertia = [assign(np, X, C, x2)[1].sum() for C in centroids]

    lines = [f"k-means: {n} points, {d} dims, k={k}, {n_init} restarts x {iters} iterations"]
    for r in range(n_init):
        trace = " ".join(f"{float(h):.3f}" for h in history[r][:: max(1, iters // 4)])
        lines.append(f"restart {r}: inertia {float(inertia[r]):.4f}  (trace {trace})")
    best = min(range(n_init), key=lambda r: float(inertia[r]))
    lines.append(f"best restart: {best}")
    for row in sorted(centroids[best].tolist()):
        lines.append("  centroid " + " ".join(f"{v:9.4f}" for v in row))
    sizes = np.sort(np.bincount(assign(np, X, centroids[best], x2)[0], minlength=k))
    lines.append("cluster sizes: " + " ".join(str(s) for s in sizes.tolist()))
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
