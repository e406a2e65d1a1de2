"""The recorded graph as networkx, its critical path, and pictures.

- :func:`graph`, :func:`graph_reset`, :func:`record_graph`: recording is off
  by default and stores nothing. ``with dagrt.record_graph():`` records the
  operations of a block (``dagrt.graph()`` then returns them, with
  durations); ``dagrt.graph_reset()`` discards what was recorded and records
  from then on, until ``dagrt.graph_reset(record=False)``.
- :func:`analyze`: work, span (critical path), work/span parallelism and the
  best possible speedup on N workers.
- :func:`plot_timeline`, :func:`draw_graph`: matplotlib pictures (the
  optional ``plot`` extra).

networkx and matplotlib are imported only when these functions are called.

Imports: ``tools.recorder``, ``tools.profile``, the engine's graph, ``_config``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .. import _config
from .profile import Profile
from .recorder import Recorder

# -- the graph ------------------------------------------------------------------


class GraphRecording(Recorder):
    """``with dagrt.record_graph() as rec:`` records the block's operations;
    leaving the block waits for them, so ``rec.graph()`` and ``dagrt.graph()``
    carry durations."""

    def __exit__(self, *exc: Any) -> None:
        global _last
        self.stop()
        _last = self


_global: Recorder | None = None  # recording since graph_reset()
_last: Recorder | None = None    # the last record_graph() block


def graph_reset(record: bool = True) -> None:
    """Discard the recorded graph and, with ``record=True`` (the default),
    record every operation pushed from now on (until
    ``graph_reset(record=False)``, which stops recording and frees it all)."""
    global _global, _last
    old, _global = _global, None
    if old is not None:
        old.stop(wait=False)
    _last = None
    if record:
        _global = Recorder().start()


def record_graph() -> GraphRecording:
    """Record the operations of a ``with`` block: ``with dagrt.record_graph():``."""
    return GraphRecording()


def graph() -> Any:
    """The recorded operations as a ``networkx.DiGraph``.

    Nodes are operations, keyed by their sequence number, with attributes
    ``name`` (the NumPy function), ``shape`` and ``dtype`` of the first
    output, ``device``, ``site`` (the user's recording line) and, once the
    operation has run, ``duration`` (seconds), ``start`` and ``worker``.
    Edges carry ``kind``: ``read-after-write``, ``write-after-read`` or
    ``write-after-write``.

    Returns what was recorded since ``dagrt.graph_reset()`` if that is
    recording, else the last ``dagrt.record_graph()`` block.
    """
    recorder = _global if _global is not None else _last
    if recorder is None:
        raise RuntimeError("no graph was recorded: call dagrt.graph_reset() to start "
                           "recording, or use `with dagrt.record_graph():`; a profile "
                           "has its own: `with dagrt.profile() as prof:` ... "
                           "`prof.graph()`")
    return recorder.graph()


# -- critical path --------------------------------------------------------------


@dataclass
class Analysis:
    """What :func:`analyze` found; ``str()`` is a readable report."""

    ops: int
    edges: int
    work: float
    span: float
    critical_path: list[Any] = field(default_factory=list)
    critical_names: list[str] = field(default_factory=list)
    unit: str = "s"
    workers: int = 1

    @property
    def parallelism(self) -> float:
        """Work / span: the average number of operations that can run at once."""
        return self.work / self.span if self.span else 0.0

    def max_speedup(self, workers: int | None = None) -> float:
        """Upper bound on the speedup over one worker with ``workers`` workers:
        ``min(workers, work / span)`` (no schedule beats it)."""
        n = self.workers if workers is None else workers
        return min(float(n), self.parallelism) if self.span else 0.0

    def brent_speedup(self, workers: int | None = None) -> float:
        """Speedup any greedy scheduler is guaranteed on ``workers`` workers,
        ignoring scheduling overhead (Brent: time <= (work - span) / workers
        + span)."""
        n = self.workers if workers is None else workers
        if not self.work:
            return 0.0
        return self.work / ((self.work - self.span) / n + self.span)

    def __str__(self) -> str:
        def amount(x: float) -> str:
            return f"{x * 1e3:.3f} ms" if self.unit == "s" else f"{x:g} ops"

        path = " -> ".join(self.critical_names)
        if len(self.critical_names) > 12:
            path = (" -> ".join(self.critical_names[:6]) + " -> ... -> "
                    + " -> ".join(self.critical_names[-5:]))
        weights = "durations" if self.unit == "s" else "1 per op (no durations)"
        return "\n".join([
            f"dagrt graph analysis: {self.ops} ops, {self.edges} edges, "
            f"weighted by {weights}",
            f"  total work       {amount(self.work)}",
            f"  critical path    {amount(self.span)} over "
            f"{len(self.critical_path)} ops: {path}",
            f"  parallelism      {self.parallelism:.2f} (work / span)",
            f"  on {self.workers} workers     best possible speedup "
            f"{self.max_speedup():.2f}x (min(workers, work/span)); "
            f"greedy schedule guarantees {self.brent_speedup():.2f}x (Brent)",
        ])

    __repr__ = __str__


def critical_path(g: Any, weight: str | None = "duration") -> tuple[list[Any], float]:
    """The heaviest path through DAG ``g`` with node weights, and its length.

    ``weight`` names a node attribute; nodes without it (or ``weight=None``)
    weigh 1.
    """
    import networkx as nx

    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("the graph has a cycle: no critical path")
    best: dict[Any, float] = {}
    via: dict[Any, Any] = {}
    for v in nx.topological_sort(g):
        w = g.nodes[v].get(weight, 1.0) if weight is not None else 1.0
        start, parent = 0.0, None
        for u in g.predecessors(v):
            if parent is None or best[u] > start:
                start, parent = best[u], u
        best[v] = start + w
        via[v] = parent
    if not best:
        return [], 0.0
    end = max(best, key=lambda v: best[v])
    path = [end]
    while via[path[-1]] is not None:
        path.append(via[path[-1]])
    return path[::-1], best[end]


def analyze(g: Any = None, workers: int | None = None,
            weight: str | None = "duration") -> Analysis:
    """Total work, critical path, work/span parallelism, and the best speedup
    ``workers`` workers could get (default: dagrt's inter-op threads).

    ``g`` is a graph from :func:`graph` or ``Profile.graph()`` (default:
    ``dagrt.graph()``), or a ``Profile``. Nodes are weighted by their
    ``weight`` attribute (durations) when every node has it, else 1 per op.
    """
    if g is None:
        g = graph()
    elif isinstance(g, Recorder):
        g = g.graph()
    if workers is None:
        workers = _config.get("inter_op_threads")
    timed = weight is not None and all(weight in d for _, d in g.nodes(data=True))
    key = weight if timed else None
    path, span = critical_path(g, key)
    work = float(sum(d[key] for _, d in g.nodes(data=True))) if key else float(len(g))
    names = [str(g.nodes[v].get("name", v)) for v in path]
    return Analysis(ops=g.number_of_nodes(), edges=g.number_of_edges(), work=work,
                    span=float(span), critical_path=path, critical_names=names,
                    unit="s" if timed else "ops", workers=int(workers))


# -- pictures ------------------------------------------------------------------


def _load_trace(trace: Any) -> dict[str, Any]:
    if isinstance(trace, Profile):
        return trace.trace()
    if isinstance(trace, dict):
        return trace
    with open(os.fspath(trace)) as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {"traceEvents": data}


def _need_matplotlib(what: str) -> None:
    """A helpful error where matplotlib (an optional dependency) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"dagrt.{what} draws with matplotlib, which is not "
                                  f"installed: pip install 'dagrt[plot]'",
                                  name="matplotlib") from exc


def _save(fig: Any, path: str | os.PathLike[str] | None, dpi: int) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)


_PICTURE: Any = None


def _figure(**kwargs: Any) -> Any:
    """A matplotlib ``Figure`` that draws with Agg and shows itself in a
    notebook (``_repr_png_``) without pyplot or an inline backend."""
    global _PICTURE
    if _PICTURE is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        class Picture(Figure):
            """A dagrt picture: a matplotlib Figure that displays as PNG in Jupyter."""

            def _repr_png_(self) -> bytes:
                buffer = io.BytesIO()
                self.savefig(buffer, format="png")
                return buffer.getvalue()

        _PICTURE = (Picture, FigureCanvasAgg)
    picture, canvas = _PICTURE
    fig = picture(**kwargs)
    canvas(fig)
    return fig


_TOP_NAMES = 10  # the timeline colours this many op names; the rest are "other"


def plot_timeline(trace: Any, path: str | os.PathLike[str] | None = None, *,
                  title: str | None = None, dpi: int = 100) -> Any:
    """Draw a trace as a timeline: one lane per worker (and stream), one bar
    per operation, coloured by NumPy function (the ten that take the most
    time; the others grey), each lane labelled with its busy fraction.
    ``trace`` is a trace file written by ``dagrt.profile``, its dict, or the
    ``Profile`` itself. Saves a PNG (or any format matplotlib knows) to
    ``path`` if given; returns the matplotlib ``Figure`` (it displays in a
    notebook). Needs matplotlib (``pip install dagrt[plot]``).
    """
    _need_matplotlib("plot_timeline")
    events = _load_trace(trace).get("traceEvents", [])
    lanes: dict[Any, str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            lanes[(e.get("pid"), e.get("tid"))] = e.get("args", {}).get("name", "")
    slices = [e for e in events if e.get("ph") == "X" and e.get("cat", "op") == "op"]
    used = {(e.get("pid"), e.get("tid")) for e in slices}
    for key in used:
        lanes.setdefault(key, f"thread {key[1]}")
    keys = sorted((k for k in lanes if k in used),
                  key=lambda k: (str(k[0]), lanes[k] != "main", lanes[k]))
    row = {k: i for i, k in enumerate(keys)}
    totals: dict[str, float] = {}
    busy = dict.fromkeys(keys, 0.0)
    bars: dict[tuple[str, Any], list[tuple[float, float]]] = {}
    for e in slices:
        dur = float(e.get("dur", 0.0))
        key = (e.get("pid"), e.get("tid"))
        totals[e["name"]] = totals.get(e["name"], 0.0) + dur
        busy[key] += dur
    names = sorted(totals, key=lambda n: -totals[n])
    top = set(names[:_TOP_NAMES])
    start = min((float(e["ts"]) for e in slices), default=0.0)
    end = max((float(e["ts"]) + float(e.get("dur", 0.0)) for e in slices), default=0.0)
    span = end - start
    for e in slices:  # time from the first op's start (traces stamp Unix time)
        name = e["name"] if e["name"] in top else "other"
        bars.setdefault((name, (e.get("pid"), e.get("tid"))), []).append(
            ((float(e["ts"]) - start) / 1e3, max(float(e.get("dur", 0.0)) / 1e3, 1e-6)))
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    cmap = colormaps["tab10"]
    colour = {n: cmap(i) for i, n in enumerate(names[:_TOP_NAMES])}
    colour["other"] = "0.75"
    legend = names[:_TOP_NAMES] + (["other"] if len(names) > _TOP_NAMES else [])
    columns = 4
    legend_rows = -(-len(legend) // columns)
    height = 1.4 + 0.45 * max(len(keys), 1) + 0.28 * legend_rows
    fig = _figure(figsize=(11, height), layout="constrained")
    ax = fig.add_subplot()
    for (name, key), spans in bars.items():
        ax.broken_barh(spans, (row[key] - 0.4, 0.8), facecolors=colour[name],
                       edgecolor="black" if len(slices) < 500 else "none", linewidth=0.3)
    ax.set_yticks(range(len(keys)),
                  [f"{lanes[k]} ({100 * busy[k] / span:.0f}% busy)" if span > 0 else lanes[k]
                   for k in keys])
    ax.set_ylim(len(keys) - 0.5, -0.5)
    if span > 0:
        ax.set_xlim(0, span / 1e3)
    ax.set_xlabel("time since the first operation started (ms)")
    if title is None:
        title = f"dagrt timeline: {len(slices)} ops, {len(names)} op names"
        if span > 0:
            title += f", {sum(totals.values()) / span:.2f} ops at a time on average"
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if legend:  # below the plot, in columns: it never squeezes the lanes
        fig.legend(handles=[Patch(color=colour[n], label=n) for n in legend],
                   loc="outside lower center", ncols=columns, fontsize="small",
                   frameon=False)
    _save(fig, path, dpi)
    return fig


_EDGE_STYLE = {"read-after-write": "solid", "write-after-read": "dashed",
               "write-after-write": "dotted"}


def draw_graph(g: Any = None, path: str | os.PathLike[str] | None = None, *,
               ax: Any = None, labels: bool = True, dpi: int = 100) -> Any:
    """Draw a recorded graph layer by layer (networkx's topological
    generations: dependencies point down), each op labelled with its name
    and duration, the critical path in red; edges solid for read-after-write,
    dashed for write-after-read, dotted for write-after-write (the legend
    says so). Returns the matplotlib ``Figure`` (it displays in a notebook);
    saves it to ``path`` if given. Meant for graphs of up to a few hundred ops."""
    import networkx as nx
    _need_matplotlib("draw_graph")
    from matplotlib.lines import Line2D

    if g is None:
        g = graph()
    elif isinstance(g, Recorder):
        g = g.graph()
    timed = all("duration" in d for _, d in g.nodes(data=True))
    path_nodes, _ = critical_path(g, "duration" if timed else None)
    on_path = set(path_nodes)
    path_edges = set(zip(path_nodes, path_nodes[1:], strict=False))
    for i, generation in enumerate(nx.topological_generations(g)):
        for v in generation:
            g.nodes[v]["layer"] = i
    pos = {v: (x, -y) for v, (x, y) in  # layer 0 on top
           nx.multipartite_layout(g, subset_key="layer", align="horizontal").items()}
    layers = [d["layer"] for _, d in g.nodes(data=True)]
    width = max((layers.count(i) for i in set(layers)), default=1)
    depth = max(layers, default=0) + 1
    if ax is None:
        fig = _figure(figsize=(min(max(6.5, 1.3 * width), 24), min(2.2 + 0.9 * depth, 30)),
                      layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=700,
                           node_color=["tab:red" if v in on_path else "lightsteelblue"
                                       for v in g.nodes])
    for kind, style in _EDGE_STYLE.items():
        edges = [(u, v) for u, v, k in g.edges(data="kind") if k == kind]
        if edges:
            nx.draw_networkx_edges(
                g, pos, edgelist=edges, ax=ax, style=style, node_size=700,
                edge_color=["tab:red" if e in path_edges else "0.4" for e in edges],
                width=[2.0 if e in path_edges else 1.0 for e in edges], arrows=True)
    if labels:
        def label(d: dict[str, Any], v: Any) -> str:
            text = str(d.get("name", v))
            return f"{text}\n{d['duration'] * 1e3:.2g} ms" if "duration" in d else text
        nx.draw_networkx_labels(g, pos, ax=ax, font_size=7,
                                labels={v: label(d, v) for v, d in g.nodes(data=True)})
    handles = [Line2D([], [], color="0.4", linestyle=style, label=kind)
               for kind, style in _EDGE_STYLE.items()]
    handles.append(Line2D([], [], color="tab:red", marker="o", linestyle="-",
                          label="critical path"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2,
              fontsize="small", frameon=False)
    ax.margins(x=0.5 / width + 0.05, y=0.5 / depth)  # room for the outer nodes' labels
    ax.set_axis_off()
    _save(fig, path, dpi)
    return fig
