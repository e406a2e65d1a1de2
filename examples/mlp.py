"""A two-layer MLP trained with mini-batch SGD on synthetic data.

The data are points labelled by a random "teacher" network; a small ensemble
of student networks (different seeds and learning rates, as in a
hyperparameter sweep) is trained on them, every model taking one SGD step on
the same mini-batch per pass. The models are independent, so dagrt can train
them concurrently. Losses are kept as arrays and only printed at the end.

    python examples/mlp.py [--numpy | --dagrt] [--quick]
"""

from __future__ import annotations

from types import ModuleType

try:
    from _backend import run
except ImportError:  # imported as examples.mlp
    from ._backend import run


def make_data(np: ModuleType, n: int, d: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, classes))
    y = np.argmax(np.tanh(X @ W) + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, y


def init(np: ModuleType, d: int, hidden: int, classes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d),
            "b1": np.zeros(hidden),
            "W2": rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden),
            "b2": np.zeros(classes)}


def forward(np: ModuleType, p: dict, X):
    h = X @ p["W1"] + p["b1"]
    a = np.maximum(h, 0.0)
    logits = a @ p["W2"] + p["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    probs = e / e.sum(axis=1, keepdims=True)
    return h, a, probs


def loss_and_accuracy(np: ModuleType, p: dict, X, y, Y):
    _, _, probs = forward(np, p, X)
    loss = -(Y * np.log(probs + 1e-12)).sum(axis=1).mean()
    accuracy = (probs.argmax(axis=1) == y).mean()
    return loss, accuracy


def sgd_step(np: ModuleType, p: dict, X, Y, lr: float) -> None:
    """One step of plain SGD on the softmax cross-entropy loss, in place."""
    h, a, probs = forward(np, p, X)
    dlogits = (probs - Y) / X.shape[0]
    dW2 = a.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dh = (dlogits @ p["W2"].T) * (h > 0)
    dW1 = X.T @ dh
    db1 = dh.sum(axis=0)
    p["W1"] -= lr * dW1
    p["b1"] -= lr * db1
    p["W2"] -= lr * dW2
    p["b2"] -= lr * db2


def main(np: ModuleType, quick: bool = False) -> list[str]:
    if quick:
        n, d, hidden, classes, batch, epochs = 1_024, 16, 32, 4, 128, 3
    else:
        n, d, hidden, classes, batch, epochs = 16_384, 64, 256, 10, 1_024, 4
    learning_rates = [0.05, 0.1, 0.2, 0.4]
    X, y = make_data(np, n, d, classes, seed=0)
    Y = np.eye(classes)[y]  # one-hot targets
    models = [init(np, d, hidden, classes, seed=10 + m) for m in range(len(learning_rates))]

    history = [[] for _ in models]
    for _ in range(epochs):
        for start in range(0, n, batch):
            Xb, Yb = X[start:start + batch], Y[start:start + batch]
            for p, lr in zip(models, learning_rates):
                sgd_step(np, p, Xb, Yb, lr)
        for m, p in enumerate(models):
            history[m].append(loss_and_accuracy(np, p, X, y, Y))

    lines = [f"MLP {d}-{hidden}-{classes}: {n} samples, batch {batch}, {epochs} epochs, "
             f"{len(models)} models"]
    for m, lr in enumerate(learning_rates):
        losses = " ".join(f"{float(loss):.5f}" for loss, _ in history[m])
        loss, accuracy = history[m][-1]
        lines.append(f"model {m} (lr={lr}): loss by epoch {losses}; "
                     f"final accuracy {float(accuracy):.4f}")
        lines.append(f"  |W1| = {float(np.linalg.norm(models[m]['W1'])):.5f}  "
                     f"|W2| = {float(np.linalg.norm(models[m]['W2'])):.5f}")
    return lines


if __name__ == "__main__":
    run(main, description=__doc__)
