"""Write docs/benchmarks.md from the latest results in bench/results/*.json.

    python bench/overhead.py && python bench/calls.py && python bench/instructions.py && \\
    python bench/chain.py && \\
    python bench/independent.py && \\
    python bench/chunked.py && \\
    python bench/auto_parallelism.py && python bench/streams.py && \\
    python bench/examples.py && python bench/cluster.py && python bench/report.py
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def stamp(record: dict[str, Any]) -> str:
    m = record["machine"]
    return f"measured {record['time']}, {m['cpus']} CPUs, Python {m['python']}"


def overhead(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    rows = [f"| {name} | {p['numpy_s'] * 1e3:.1f} ms | {p['dagrt_s'] * 1e3:.1f} ms | "
            f"**{p['ratio']:.2f}** | {p.get('best_ratio', p['ratio']):.2f} | "
            f"{p['numpy_spread']:.2f} / {p['dagrt_spread']:.2f} |"
            for name, p in x["patterns"].items()]
    return [
        "## Small-op overhead (`bench/overhead.py`)", "",
        "Loops of small operations as real NumPy code writes them: the loop of "
        "cuNumeric issue 1178, scalar get and set, builtin `sum`/`max` and row "
        "iteration, small fancy indexing, reductions, matmul, `where`/`concatenate`/"
        "`stack`, random draws, `linalg.solve`, a vectorized mandelbrot on 100x83, a "
        "stencil of slices updated in place, creation/copy/reshape/cast/axis-sum/`out=` "
        "calls, calls of the API sweep (next section), and the first loop under "
        "`dagrt.profile`. Published peers on the first loop: "
        "cuNumeric about 48x slower than NumPy, MXNet 30-60 us per op, dask.array "
        "several hundred x. Target: every pattern within 2x of NumPy (3x at most).", "",
        "NumPy and dagrt each run in a fresh process (one per side for the whole run) "
        f"under the same settings ({', '.join(f'`{k}={v}`' for k, v in x['settings'].items())}); "
        f"each pattern runs {x.get('runs', 1)} times per side (loop counts "
        f"x{x['scale']:g}), the sides taking turns run by run. Ratio: the median of "
        "each dagrt run over the NumPy run next to it in time (this VM's speed drifts by "
        "up to 2x within seconds: the spreads); best: the ratio of the best times.",
        "", "    python bench/overhead.py", "",
        "| pattern | NumPy | dagrt | dagrt / NumPy | best / best | spread NumPy / dagrt |",
        "| --- | --- | --- | --- | --- | --- |", *rows, "",
        f"Worst ratio: **{x['worst_ratio']:.2f}**. _{stamp(r)}_", "",
        "Before the one recording path (commit 689b8eb, the same benchmark at a "
        "quarter of the loop counts, 2026-12-02) the ratios were, in the order of "
        "the table: 2.2, 131, 58, 124, 105, 57, 6.5, 20, 17, 23, 6.2, 4.9 and 149; at "
        "the start of the ninth session (commit 4bed47e): 3.3, 1.9, 3.1, 2.1, 2.8, 6.5, "
        "1.8, 3.8, 3.0, 3.8, 1.7, 1.7 and 14.2; before the compiled base class "
        "(commit a25be28, 2026-12-03): 2.6, 2.9, 3.7, 2.2, 3.0, 5.4, 1.7, 3.1, 2.7, "
        "3.1, 1.5, 1.7 and 6.9; before the fifteenth session (commit fdc877f): 1.2, 1.1, "
        "1.5, 1.1, 1.4, 1.4, 1.4, 1.3, 1.9, 2.5, 1.5, 1.7 and 2.9. The run-now case of "
        "operators, ufunc calls, element and slice access, fancy indexing, boolean "
        "masks, iteration, random draws (`random.Draw`) and `record` itself is C "
        "(`dagrt/array/_native.c`, docs/architecture.md): an operator costs NumPy's "
        "call plus about 1,500 instructions, an element read 70, a random draw 2,900 "
        "(25,500 before: its parameters, size and generator state went through "
        "Python); `concatenate`, `stack`, `where` and reductions without arguments "
        "try that case before their kind's Python code (`record.now`: `concatenate` "
        "11,900 instructions against NumPy's 7,300, 22,000 before). Ops over the "
        "run-now size that the cost model predicts cheap (the mandelbrot's 66-133 KB "
        "ops) also run in C, timed and learnt by the model. A profile records each "
        "op's buffers, site and times, the entry made in C, its name, site and shape "
        "reused from small caches and each new result's state made without Python: "
        "1.7x NumPy's instructions (2.2x before), about 2x its time, the highest "
        "ratio left, and the noisiest (runs of the same code measured it 1.85-2.35). "
        "Compiling `array/record.py` as it is with "
        "mypyc gave no gain (15,900 instructions for `y5 + 1.0` against 14,800 "
        "interpreted: compiled code on untyped objects goes through the generic C "
        "API, where CPython 3.11's specializing interpreter has inline caches); the "
        "C base class reads the array's fields and its state's slots directly. "
        "See the closing note of issue 8.", "",
        "The sixteenth session swept NumPy calls the table did not cover, counted in "
        "instructions (next section): slice assignment (`m[1:9, 1:9] = a` 8.8x "
        "NumPy's instructions, `u[1:-1, 1:-1] += f` 4.0x), operands that broadcast "
        "(`a + b[:8]` 5.2x), copies and reshapes (`x.copy()` 9.9x, `m.ravel()` 11x, "
        "`m.flatten()` 9.8x, `m.reshape(5, 20)` 6.9x, `astype` 5.4x), creation "
        "(`zeros` 4.9x, `full` 4.8x, `ones_like` 6.3x), `out=` (`np.add(s, s, out=s)` "
        "8.4x), `fill` 16x and the eager functions (`nonzero` 8.8x, `count_nonzero` "
        "9.2x, `searchsorted` 4.4x, `linalg.norm` 4.2x) all took Python paths; they now "
        "run now in C too (basic keys in the compiled slots, `view_now` for views and "
        "copies, `run_now` first in creation, contraction, sort, reduction and eager "
        "functions): 1.1-2.9x NumPy's instructions (the remaining 2-3x ones are one or "
        "two Python frames in front of a NumPy call of about 1,000-2,000 instructions: "
        "`m.ravel()`, `xp.zeros(10)`, `x.item(3)`). The two last patterns of the table "
        "were added then.", "",
        "The seventeenth session removed the Python frame in front of those calls: the "
        "creation, contraction, sort, reduction, movement and eager functions, and "
        "`np.array`, are `NowFunction`s, whose call tests the function's run-now "
        "conditions and calls `run_now` in C (`xp.zeros(10)` 2.9x -> 2.2x NumPy's "
        "instructions, `np.array([1.0, 2.0])` 3.5x -> 1.8x, `m.sum(axis=0)` 1.73x -> "
        "1.50x, `concatenate` 1.65x -> 1.37x, `s.sum()` 1.69x -> 1.38x); the "
        "creation/copy/reshape pattern went from 2.08 to 1.94 of NumPy's time. The "
        "profiled loop (2.0) is the worst pattern left.", "",
        "The twentieth session added the pattern of calls its sweep of NumPy's API "
        "found slowest (next section): a NumPy scalar times an array, `x.sort()`, "
        "`np.where(c)`, `m.swapaxes(0, 1).ravel()` of a reshaped array, `copyto`, "
        "`x.round(1).tobytes()`, `np.repeat`, each under a microsecond in NumPy. Before "
        "the session's changes they took 3-12x NumPy's time each (Python paths); now "
        "the pattern is about 2.1x (each call one or two Python frames in front of "
        "NumPy's), as the profiled loop (2.0-2.1 in this session's runs).", "",
        "The twenty-fourth session added a pattern of scalar code written with NumPy's "
        "functions: `np.sqrt` and `np.exp` of Python floats, a row set from a list, a "
        "list key beside an int, a NumPy integer as a key, a NumPy array (a library's "
        "result) as an operand. Before the session's changes it took 5.97x NumPy's time "
        "(`--quick`; each of those calls took a Python path), 1.44x after.", ""]


def instructions(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    rows = [f"| `{stmt}` | {p['what']} | {p['numpy']:,.0f} | {p['dagrt']:,.0f} | "
            f"**{p['ratio']:.2f}** |" for stmt, p in x["statements"].items()]
    return [
        "## Per-op cost in instructions (`bench/instructions.py`)", "",
        "Time on this VM drifts; instructions do not. Each statement runs in a fresh "
        "process per side under valgrind's callgrind, 200 times to warm up and then "
        f"{x['n']} times inside `itertools.starmap`, the only code counted; the count "
        "per execution (NumPy and dagrt on the same arrays, the overhead benchmark's "
        "settings; `p(x, y)` is `x += 2 * y` run under `dagrt.profile` on dagrt's side; "
        "each count includes the about 1,000 instructions of calling the statement's "
        "function):",
        "", "    python bench/instructions.py", "",
        "| statement | stands for | NumPy | dagrt | dagrt / NumPy |",
        "| --- | --- | --- | --- | --- |", *rows, "", f"_{stamp(r)}_", ""]


def sides_table(x: dict[str, Any], base: str) -> list[str]:
    """The rows of a benchmark whose sides ran in fresh processes."""
    rows = [f"| {name} | {p['best_s'] * 1e3:.1f} ms | **{p['ratio']:.2f}** | {p['spread']:.2f} |"
            for name, p in x["sides"].items()]
    return [f"| side | best | / {base} | spread (worst / best) |", "| --- | --- | --- | --- |",
            *rows]


SAME = ("Each side runs in a fresh process, the sides alternating, {rounds} processes "
        "x {repeat} timed runs each (best kept); \"NumPy tuned\" is NumPy given the "
        "malloc thresholds `import dagrt` sets for its own process, through glibc's "
        "environment variables (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_), and is "
        "the baseline of the ratios.")


def sides_section(r: dict[str, Any], title: str, script: str, intro: str) -> list[str]:
    """A section for a benchmark of ``compare_sides``: what it runs, the table
    of its sides and dagrt / tuned NumPy."""
    x = r["results"]
    return [f"## {title} (`bench/{script}`)", "", intro, "", SAME.format(**x), "",
            f"    python bench/{script}", "", *sides_table(x, "NumPy tuned"), "",
            f"dagrt / tuned NumPy = **{x['dagrt_over_tuned']:.2f}**. _{stamp(r)}_", ""]


def chain(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    return sides_section(
        r, "One dependent chain", "chain.py",
        f"`x = sin(x) * 1.0001 + 0.5`, {x['steps']} times, on {x['elements']:,} float64 "
        "elements: nothing in it is independent, so only fusion (each cache-sized block "
        "through the whole chain, no full-size temporaries) and chunking (blocks on every "
        "core) can make it faster. numexpr, which does this in C, is the peer. Target on "
        "2 cores: at most 0.5 of tuned NumPy's time.") + [
        "`sin` makes this chain compute-bound: fused on one worker it runs at NumPy's "
        "speed (next to sin, writing and reading back the temporaries costs NumPy "
        "little), and the gain is the second core, as for numexpr, whose C evaluator "
        "reaches the same figure. Across runs on 2026-12-02 dagrt measured 0.50-0.55, at "
        "most 0.02 from numexpr in the same run; on 2026-12-03, with the VM 2.5-3x slower "
        "and its spreads up to 2x, 0.57-0.71 against numexpr's 0.49-0.56 in the same "
        "runs; in the twelfth session 0.46 against numexpr's 0.48, in the thirteenth "
        "0.55 against 0.49; in the run above (seventeenth session, the VM about 1.5x "
        "faster than on 2026-12-03) 0.42 against numexpr's 0.50: the 0.5 target is at "
        "this machine's limit for two cores, met in most runs.", ""]


def independent(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    return sides_section(
        r, "Independent chains", "independent.py",
        f"{x['chains']} independent chains of {x['steps']} elementwise ops on "
        f"{x['elements']:,}-element float64 arrays. Target on 2 cores: at most 0.55 of "
        "tuned NumPy's time (hand-written Python threads are the reference).") + [
        "The default configuration and the explicit 2 workers are the same settings "
        "(`DAGRT_INTER_OP_THREADS` defaults to the cores): their difference in a run is "
        "this VM's noise, as the spreads show. The thirteenth session measured 0.60 "
        "(2 workers 0.68); the seventeenth, above, 0.59 (2 workers 0.48), the hand-"
        "written threads 0.51.", ""]


def chunked(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    return sides_section(
        r, "Chunked reductions and gathers", "chunked.py",
        f"{', '.join(f'`{op}`' for op in x['ops'])} on {x['elements']:,} float64 elements "
        "(the matrix 2,000 wide), each op alone with a sync point after it: only cutting "
        "the op itself into blocks (`array/chunks.py`) can use the second core. The "
        "values are NumPy's to the bit (float sums over the cut axis are not cut).") + [
        "On 2026-12-03 this measured 0.67 (NumPy tuned 135 ms). In the seventeenth "
        "session, with the VM about twice as fast, it measured 0.88-1.00 until the "
        "deferred gather's plan stopped indexing a zero-byte stand-in with the whole "
        "index array to find its shape and check its bounds (17 ms of the recording "
        "thread for 4M indices, half of NumPy's gather; now the index's extremes): "
        "0.72-0.73 in two runs after (the gather alone 43 -> 28 ms). Each op alone "
        "still pays a hand-off and a sync (unchunked, deferred: 1.35).", ""]


def auto_parallelism(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    cpu = []
    if "cpu_chains" in x:
        cpu = [
            "The CPU experiments (NumPy and dagrt in one process, same settings):", "",
            "| | NumPy | dagrt serial / one by one | dagrt | dagrt / NumPy |",
            "| --- | --- | --- | --- | --- |",
            f"| four independent chains of 10 ops, 2M float64 | {x['cpu_chains_numpy']:.3f} s | "
            f"{x['cpu_chains_serial']:.3f} s | {x['cpu_chains']:.3f} s | "
            f"**{x['cpu_chains'] / x['cpu_chains_numpy']:.2f}** |",
            f"| one chain `x = sin(x) * 1.0001 + 0.5` x10, 2M float64 | "
            f"{x['cpu_chain_numpy']:.3f} s | {x['cpu_chain_unfused']:.3f} s | "
            f"{x['cpu_chain']:.3f} s | **{x['cpu_chain'] / x['cpu_chain_numpy']:.2f}** |", ""]
    lines = [
        "## Auto-parallelism (`bench/auto_parallelism.py`, the main demo)", "",
        *cpu,
        f"The d2l book's experiment on the CPU: ten {x['size']}x{x['size']} products on each "
        "of two independent arrays.", "",
        "| | time |", "| --- | --- |",
        f"| NumPy | {x['numpy']:.3f} s |",
        f"| dagrt serial engine | {x['serial']:.3f} s |",
        f"| dagrt threaded, x1 then x2 (a barrier between) | {x['one_after_other']:.3f} s |",
        f"| dagrt threaded, overlapped | {x['overlapped']:.3f} s |", "",
        f"overlapped / serial = **{x['overlapped_over_serial']:.2f}**. On 2 cores a single "
        "2000x2000 product already keeps both cores busy through BLAS threads, so "
        "running the two arrays' products at once (one BLAS thread each) has little "
        "left to gain; the figure shows dagrt's scheduling costs nothing here. (NumPy "
        "and the serial engine run after the pool has been idle, with BLAS's own "
        "thread count.)"]
    if "gpu_cpu_and_gpu_over_max" in x:
        lines += ["", f"CPU&GPU / max(CPU, GPU) = {x['gpu_cpu_and_gpu_over_max']:.2f}; "
                  f"run+copy / run = {x['gpu_run_copy_over_run']:.2f}."]
    else:
        lines += ["", "No GPU was present: the CPU&GPU and copy-overlap parts did not run."]
    return lines + ["", f"_{stamp(r)}_", ""]


def streams(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    rows = [f"| {k} | {v * 1e3:.2f} ms |" for k, v in x.items()
            if k not in ("speedup", "gpu", "host_us_per_op", "backend_us_per_op")]
    what = "CUDA streams" if x.get("gpu") else "the CPU analogue (no GPU present): workers"
    host = [f"Host time per GPU op launch: {x['host_us_per_op']:.0f} us, of which "
            f"{x['backend_us_per_op']:.0f} us in CuPy's calls (target: <= 50 us).", ""] \
        if "host_us_per_op" in x else []
    return ["## Streams (`bench/streams.py`)", "",
            f"64 independent 256x256 products, on {what}.", "",
            "| | time |", "| --- | --- |", *rows, "", *host,
            f"speedup = **{x['speedup']:.2f}**. _{stamp(r)}_", ""]


def _median_ratio(e: dict[str, Any]) -> float:
    """dagrt's median time over the best tuned NumPy side's median."""
    if "median_ratio" in e:
        return e["median_ratio"]
    runs = e["all_s"]
    tuned = min((side for side in runs if side.startswith("tuned")), key=lambda s: min(runs[s]))
    return statistics.median(runs["dagrt"]) / statistics.median(runs[tuned])


def _geomean(values: list[float]) -> float:
    return math.prod(values) ** (1 / len(values))


def examples(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    rows = [f"| {name} | {e['numpy_s'] * 1e3:.0f} ms | {e['tuned_s'] * 1e3:.0f} ms | "
            f"{e['dagrt_s'] * 1e3:.0f} ms | **{e['ratio']:.2f}** | "
            + f"{_median_ratio(e):.2f} | "
            + f"{'same' if e['same_output'] else 'DIFFERENT'} |"
            for name, e in x["examples"].items()]
    return ["## Example programs (`bench/examples.py`)", "",
            "Realistic NumPy programs (`examples/`) run unchanged under NumPy and dagrt, "
            f"best of {x['repeat']}, {x.get('mode', '')}. NumPy runs as installed and "
            "tuned: with the malloc thresholds `import dagrt` sets for its own process and "
            "with 1 and with 2 BLAS threads, the best of these kept. Targets (2 cores): "
            "each example at most 1.0 of tuned NumPy, geometric mean at most 0.75, heat "
            "at most 0.9.", "",
            "| example | NumPy as installed | NumPy tuned | dagrt | dagrt / tuned | "
            "median / median | output |",
            "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
            f"Geometric mean of dagrt / tuned: **{x['geomean']:.2f}** (best runs)"
            + f", {_geomean([_median_ratio(e) for e in x['examples'].values()]):.2f} "
            "(median runs)"
            + f". _{stamp(r)}_", "",
            "Each run is a fresh process because NumPy's own times depend on the "
            "process's heap history (mandelbrot: 0.6 s warm, 2.4 s fresh).", "",
            "The table above is the twenty-first session's code. Its change to these "
            "examples: the compiled path keeps the cost model's verdict between the ops "
            "it times (docs/architecture.md, \"The policy\"), instead of a Python call "
            "for each op over 64 KiB. Run interleaved with the session's first commit "
            "(each run a fresh process, NumPy tuned): heat 1.09-1.11 s against 1.17-1.18 "
            "before and NumPy's 1.16-1.17 (three runs each: faster than tuned NumPy "
            "there); mandelbrot 0.97-1.00 s against 0.99-1.08, NumPy 0.93-0.99; mlp, "
            "ten runs of each: 1.21-1.66 s (mean 1.37) against 1.21-1.72 (mean 1.42), "
            "NumPy 1.08-1.31: its spread is the regime's (below), a full run says little "
            "about it (this table's best runs 1.41, medians 1.17; the twentieth session's "
            "1.18). The twentieth session's table: kmeans 0.95, mlp 1.18, heat 1.08, "
            "mandelbrot 1.07, monte_carlo 0.82, rnn 1.05. What kept heat and mandelbrot "
            "over 1.0 was measured in the twentieth session: neither defers an op "
            "(0 and 66 of their 11,200 and 4,400 ops go to the scheduler); run every op "
            "in the caller without asking the "
            "cost model (`DAGRT_INLINE_BYTES=1000000000`), a heat step of four plates "
            "took 736-754 us against NumPy's 731-746 us and the default's 759-783 us: "
            "asking the model (a Python call from C for each op over 64 KiB) and the "
            "regime's counting cost 2-4 us an op on this VM, where an op streams 1-4 MB "
            "through the caches between two Python calls. Deferring every op instead "
            "(`DAGRT_INLINE_US=0`) ran mandelbrot at NumPy's time without fusion (0.95-0.98 "
            "s against 0.97-1.05) and slower with it (1.35 s), heat at 1.3x without fusion "
            "and 2x with it: a deferred op still costs about 25-35 us of Python in the "
            "recording thread.", "",
            "The nineteenth session's changes to "
            "these figures: the regime (docs/architecture.md, \"The policy\"): while a "
            "program runs, dagrt measures whether handing the ops the cost model finds "
            "dear (1 ms or more) to the workers, with the chains behind them, pays "
            "against running every op in the caller as NumPy does, in windows of 50 ms "
            "and of the same mix of ops, and keeps the faster. Run interleaved at the "
            "end of the session (each run a fresh process; NumPy with two BLAS threads "
            "and the malloc thresholds; the regime / every op in the caller / the dear "
            "ops spread, the engine before / NumPy), on a slower moment of the VM "
            "than the table's: mlp 1.51-1.64 s / 1.30-1.46 / 2.01-2.09 / 1.24-1.34; "
            "kmeans 1.22-1.27 / 1.43-1.46 / 1.14-1.22 / 1.28-1.29 (spreading pays: "
            "the regime keeps it); `rnn` (new: a recurrence, one dependent chain of "
            "1 ms products) 1.27-1.40 / 1.18-1.20 / 1.39-1.68 / 1.15-1.20. A full "
            "run ten minutes before the table, on the same code: kmeans 1.00, mlp "
            "1.19, heat 1.11, mandelbrot 1.06, monte_carlo 0.86, rnn 1.11 (geometric "
            "mean 1.05). What the regime does not recover is its first measurements "
            "(it starts spread, and mlp's first windows can mix its loss "
            "evaluations with its training steps: they decide "
"nothing until measured again) and its later probes of the slower way. "
            "A chain deferred while spread used to stay on the workers once the "
            "caller would have been faster (each op's input pending, its writer "
            "queued, not running): the caller regime now waits for it (a chain of "
            "400x400 products and tanh, 1,500 steps: 4.3 s in either regime before, "
            "2.6 s after, NumPy 2.7 s). The cost model also times only a kind's first "
            "8 ops it admits and then one in 16 (a thread CPU clock read is a system "
            "call that slowed the 70 us reduction after it by about 2 us), and "
            "reductions with arguments ask it from C (mlp's `dh.sum(axis=0)` took the "
            "Python path: 90 us against NumPy's 77). With the regime off "
            "(`--config adapt_s=0`, the same session, one run before the table): "
            "kmeans 0.84, mlp 1.42, heat 1.08, mandelbrot 1.06, monte_carlo 0.77, "
            "geometric mean 1.01; the seventeenth session's table: 0.98, 1.53, 1.03, "
            "1.02, 0.80 (1.05). heat and mandelbrot run the same in both regimes "
            "(their ops are mostly under the 1 ms limit): their 1.05-1.1 is the "
            "recording path's cost per op.", "",
            "The seventeenth session's change to "
            "these figures was the cost model (docs/architecture.md, \"The policy\"): "
            "an op of a kind never measured runs now and is measured alone, and a "
            "worker's time, inflated by the recording thread and the other worker "
            "sharing the cores (mlp's products: 1.1 ms of CPU on a worker against 0.83 "
            "ms alone), only lowers an estimate: heat's first stencil ops used to go to "
            "the workers to be measured, and their chains stayed there (the sixteenth "
            "session's table: heat 1.33; run interleaved with the code before the "
            "change, heat took 1.42-1.60 s before and 1.27 s after, NumPy 1.25-1.36 s). "
            "A full run 40 minutes before the table above, with the cost model changed "
            "but not yet the `NowFunction`s (which do not touch these examples' large "
            "ops), gave kmeans 1.08, mlp 1.55, heat 1.11, mandelbrot 1.13, monte_carlo "
            "0.83, geometric mean 1.12: the difference between the two runs is mostly "
            "the VM's. "
            "mlp remains 1.5x: run wholly in the caller (`DAGRT_INLINE_US=100000`) it "
            "takes NumPy's time (1.42-1.51 s against 1.39-1.48 s, interleaved), but "
            "with the default 1 ms its 1024x64 by 64x256 products (1.0 ms alone) are "
            "deferred, the chains behind them follow (5,200-6,900 of its 7,257 ops), "
            "and a deferred op costs more than its share of the second core returns "
            "here: the ops take 1.3-4x their time alone on the workers, the BLAS runs "
            "with one thread instead of two, and its loss evaluations (products and "
            "additions of 33 MB, memory-bound) took 0.92-1.01 s on two workers "
            "against NumPy's 0.72-0.81 s in one thread (raising the limit to 3 ms kept "
            "the products in the caller but not those: 1.8-2.2 s).", "",
            "The sixteenth session's final table gave kmeans 0.97, mlp 1.53, heat 1.33, "
            "mandelbrot 1.14, monte_carlo 0.81 (geometric mean 1.12); a run 45 minutes "
            "earlier on its intermediate code (the elision and slice assignment in C, not "
            "yet the rest) gave a geometric mean of 0.99 (kmeans 0.64, mlp 1.43, heat "
            "1.06, mandelbrot 1.14, monte_carlo 0.85); the fifteenth's table was 0.97. "
            "kmeans alone swung from 0.64 to 0.97 between the two runs: on this VM one "
            "run of the five says little, interleaved runs of one example say more "
            "(below).", "",
            "heat in the sixteenth session: run in the caller, a step of one plate took "
            "1.17x NumPy's time (780 against 665 us): the temporaries of the stencil went "
            "to the Python path to be elided and `u[1:-1, 1:-1] += f` ended in the Python "
            "`__setitem__`; with NumPy's elision and basic-key assignment in C, 1.05x "
            "(698 against 663 us; the whole example 1.06-1.09x early in the session; "
            "run interleaved at its end, with the VM slower: NumPy 1.44-1.49 s, dagrt "
            "1.58-1.70 s, the session's starting code 1.82-1.91 s). Beating NumPy needs the "
            "plates on both cores, and on this VM every hand-off is dear: a round trip "
            "to a waiting Python thread (lock release, wake-up, the GIL) took 77 us, so "
            "cutting a 100 us op in two halves on two threads made it no faster (133 "
            "against 135 us). Deferred and fused, the plates' chains ran 2.2 s against "
            "NumPy's 1.15 s: fused kernels on 128 KiB blocks are GIL-bound on two "
            "workers (each block's NumPy calls need the GIL; two threads running the "
            "same blocked chain took 880 us a chain against 423 us alone), and the "
            "recording thread holds the GIL for about 40 us per deferred op (28 per "
            "step). Blocks of 100 rows halve that contention in isolation (two threads: "
            "265 us a chain against NumPy's 570 us whole-array), but the per-op Python "
            "cost of the deferred path remains the limit; see the closing note of issue "
            "9.", "",
            "In the fifteenth session the VM ran slower and noisier than in the "
            "fourteenth (tuned NumPy's heat 2.15 s against 1.72 s, mlp 2.0-4.9 s from "
            "run to run). Two full runs before that session's table gave geometric means "
            "of 1.11 and 1.08 (heat 1.66 and 1.69): one change of that session had made heat "
            "slower, ops over 64 KiB that the cost model admits running in C without "
            "NumPy's temporary elision (a new 1.3 MB array per stencil op; interleaved "
            "runs of heat: 3.35-3.40 s with it, 2.5-3.0 s before it and after the fix). "
            "That session's table (0.97) is the code after the fix (the fourteenth's: 0.98). "
            "mandelbrot interleaved with the code before the session's changes: 2.3-2.9 s "
            "against 2.8-3.1 s, within this VM's noise.", "",
            "Runs differ more than their spreads say: in one run of the twelfth session, "
            "an hour before the table above on the same code, kmeans measured 1.29, mlp "
            "1.90, heat 1.64, mandelbrot 2.72 and monte_carlo 0.98 (geometric mean 1.61); "
            "mandelbrot and kmeans rerun at once, 0.91 and 0.75. dagrt's time, not NumPy's, "
            "swings: whether a chain of small ops runs in the caller or on the workers "
            "depends on timing (below), and the two regimes differ by up to 2.5x. In the "
            "thirteenth session two full runs ten minutes apart gave geometric means of "
            "1.05 and 0.95 (mlp 1.78 and 1.39, heat 1.30 and 1.14); mlp alone, "
            "interleaved, took 2.58-2.69 s on that session's code and 2.57-2.88 s on the "
            "twelfth session's.", "",
            "What limits mlp and heat (measured in the twelfth session; see the closing "
            "note of issue 9): their ops are mid-sized (mlp: 7,257 ops, 0.37 ms each on "
            "average under NumPy; heat: 11,200 of about 0.2 ms) and in chains. Once one op "
            "of a chain goes to a worker, the next finds its input pending and goes there "
            "too, and so on: of mlp's ops that could not run now, 4,997 of 5,505 waited for "
            "an input whose own writer was still waiting for its inputs. A deferred op "
            "costs 150-250 us of Python in the recording thread and about 100 us in a "
            "worker, as much as the op itself, so on two cores such a chain cannot gain. "
            "Three things made it worse, fixed in that session: CPython's 5 ms switch "
            "interval (a worker's kernel waited up to 5 ms for the GIL each time NumPy "
            "returned while the recording thread ran Python: mlp's ops took 2-3x their CPU "
            "time; dagrt now lowers the interval to 50 us while its workers run), a cost "
            "model that learnt those waits as the ops' cost (0.4 ms additions looked like "
            "3 ms ones and were kept on the workers; it now learns CPU time), and small ops "
            "that went to the workers only because their input's kernel was a moment from "
            "finishing (they now wait for it). Run by itself, interleaved with the code "
            "before these changes, mlp took 4.35 s on average over 5 runs (3.3-5.8 s) "
            "against 4.7 s (2.9-6.8 s) before, NumPy with two BLAS threads 2.3-2.7 s. "
            "Running such chains in the caller "
            "whenever their ops are small would make dagrt NumPy's equal there; running "
            "them on the workers with a profit needs the per-op recording cost cut by 10x "
            "(the native core of issue 8).", "",
            "Against NumPy given the same malloc thresholds the earlier figures (0.35-0.80 "
            "against NumPy as installed) mostly measured those thresholds. kmeans and "
            "monte_carlo, with independent work per step, are faster than tuned NumPy; "
            "heat and mlp were not, and missed their targets; mandelbrot is near 1.0 (1.5-3.1 "
            "earlier the same day, before fused groups were cut into their independent "
            "chains, workers ran the op their op made ready, and the cost model learnt a "
            "shared kernel at its time on one worker; the runs' noise cannot tell which "
            "mattered most: its four views had been one kernel, each block passing through "
            "all four, and its ops swung between held and run now). heat: an op whose "
            "input is held for fusion cannot run now, so once its first steps are "
            "deferred (kinds the cost model has not measured yet) every later op is "
            "deferred and fused too, "
            "and pays the recording cost of a deferred op (about 125 us of Python on a "
            "slow day of this VM, for 11,200 ops of about 0.2 ms), while its fused blocks "
            "of strided 398x398 views run no faster than NumPy's whole-array calls (run "
            "in the caller instead, an earlier session measured 13% over NumPy). Either "
            "way the Python cost per op is what is left: the same stencil written by hand "
            "on two Python threads took 0.75 s with one queue item per operation and "
            "0.31 s with one per plate and step (NumPy: 0.5 s; an earlier session). mlp "
            "also loses to OpenBLAS's threads: tuned NumPy's best is two BLAS threads, and "
            "dagrt limits BLAS to one thread while its workers are busy.", ""]


def cluster(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    ref = x["numpy"]
    names = {"numpy": "NumPy", "threads": "dagrt, threads", "threads-inline0":
             "dagrt, threads, every op scheduled", "cluster": "dagrt, cluster (2 workers)"}
    rows = [f"| {names[k]} | {x[k]['loop_us']:.1f} us | {x[k]['loop_us'] / ref['loop_us']:.2f} | "
            f"{x[k]['ensemble_s']:.3f} s | {x[k]['ensemble_s'] / ref['ensemble_s']:.2f} |"
            for k in names]
    c = x["cluster"]
    return ["## The cluster device (`bench/cluster.py`)", "",
            f"B1: `x += 2*y` on 1,024 elements, {x['loop_n']} iterations (per op). B2: four "
            f"independent chains of `x = sin(x) * 1.0001` on 1,024 elements, "
            f"{x['ensemble_steps']} steps each (a GIL-bound ensemble). Each side in a fresh "
            "process with one BLAS thread and the same malloc thresholds, best of the "
            "runs. Targets (issue 11): B1 <= 30 "
            "us/op on the cluster; B2 <= 0.6 of NumPy.", "",
            "| side | B1 per op | / NumPy | B2 | / NumPy |", "| --- | --- | --- | --- | --- |",
            *rows, "",
            f"Embedded cluster (2 worker processes): start {c['start_s']:.2f} s, close "
            f"{c['close_s']:.2f} s, reported apart from B2.", "", *_spilling(x),
            f"_{stamp(r)}_", "",
            "On this 2-core VM the client, the Dask scheduler and the two workers share "
            "two cores. B1 went from 211 us an operation (2026-12-03) to the figure above, "
            "within its target: the cluster's operations are batched (docs/cluster.md): "
            "recorded straight into the open segment, counted by the engine but without "
            "its graph (an operation through dagrt's scheduler costs "
            f"{x['threads-inline0']['loop_us']:.0f} us even on its own threads: the row "
            "'every op scheduled'), in segments of 1024 operations (a task costs the "
            "client, the scheduler and a worker about 4 ms of CPU: at 256, B1 took 55-65 "
            "us an operation), recorded as plain tuples that pickle in C and that "
            "Python's collector stops walking once it has seen them (it cost 4-7 us an "
            "operation before), on shadow buffers reused from dead arrays, with the "
            "objects alive at connection frozen for the collector. What remains is the "
            "client's Python per operation (the ufunc's plan, a shadow array, the record, "
            "the engine's counts): about 15 us of CPU with Dask replaced by an in-process "
            "stand-in, 20 in the real run, where the client's Dask thread, the scheduler "
            "and the workers share the two cores (a worker replays an operation in about "
            "10 us of CPU, the scheduler spends 4-6 on it: `psutil`, all processes). B2's "
            "target cannot be met by a client that records each operation in Python: 0.6 "
            "of NumPy leaves "
            f"{0.6 * ref['ensemble_s'] / (8 * x['ensemble_steps']) * 1e6:.1f} us to record "
            "each of B2's operations, and each of them makes a new array (B1: half of "
            "them); its four chains are also four tasks per segment (one per connected "
            "component). A backpressure stall waits for the tasks in flight instead of "
            "sending what is open (at the bound it used to send one task per operation: "
            "B2 took 33.8 s on 2026-12-02); the client never gathers a segment's result "
            "(it takes the segment's summary from the worker), and a segment keeps only "
            "the buffers something can still read (B3 spilled 1.8 GB and took 10.3 s "
            "before). The cluster device is for arrays and programs that outgrow one "
            "machine, not for small ops.", ""]


def _spilling(x: dict[str, Any]) -> list[str]:
    b3 = x.get("spilling")
    if b3 is None:
        return []
    mib = 1 << 20
    return [f"B3, an array larger than one worker's memory: {b3['array_bytes'] / mib:.0f} MiB "
            f"(`y = 2*x + 1; y.sum(); y[i]`) on two workers with a memory limit of "
            f"{b3['worker_memory'] / mib:.0f} MiB each, in {b3['blocks']} row blocks: "
            f"{b3['seconds']:.1f} s, {b3['spilled_bytes'] / mib:.0f} MiB spilled to disk by "
            f"Dask on the way, {'correct' if b3['correct'] else 'WRONG'}.", ""]


def calls(r: dict[str, Any]) -> list[str]:
    x = r["results"]
    order = sorted(x["calls"].items(), key=lambda kv: -kv[1]["ratio"])
    rows = [f"| `{call}` | {c['numpy_s'] * 1e6:.2f} us | {c['dagrt_s'] * 1e6:.2f} us | "
            f"**{c['ratio']:.2f}** |" for call, c in order[:20]]
    return [
        "## A sweep of NumPy's API (`bench/calls.py`)", "",
        f"{len(x['calls'])} single calls across NumPy's API on small arrays (element "
        "and slice access, views of views, reductions, creation, copies, sorts, eager "
        "functions, other `ndarray` methods, NumPy scalars as operands, random draws, "
        "`linalg`, `fft`), each a statement run many times, the best of "
        f"{x['rounds']} rounds per side (each side a fresh process under the overhead "
        "benchmark's settings, the sides taking turns): a call that takes a slow path "
        "shows here even when no pattern of the overhead table uses it. Target: the "
        "overhead table's, every call within 2x of NumPy (3x at most); for calls under a "
        "microsecond in NumPy a fixed cost of dagrt's (one Python frame, about 0.2-0.4 "
        "us here) weighs the most.", "", "    python bench/calls.py", "",
        "The 20 slowest calls relative to NumPy:", "",
        "| call | NumPy | dagrt | dagrt / NumPy |", "| --- | --- | --- | --- |", *rows, "",
        f"Median ratio over all calls: **{x['median_ratio']:.2f}**; over 2x: "
        f"{x['over_2']}, over 3x: {x['over_3']}. _{stamp(r)}_", "",
        "The twentieth session wrote this sweep and found, before its changes: "
        "`m.swapaxes(0, 1)` of a view 12x NumPy's time, `m.ravel()` of a view 10.6x "
        "(`view_now` in C took NumPy's view of a view, whose base is the memory's "
        "owner, for a copy and fell back to Python), `v.reshape(100)` of a strided view "
        "14x (NumPy's copy is a view of a new array), `s.tobytes()` 11.7x and every "
        "other `ndarray` method dagrt does not list (Python, a closure per call), "
        "`np.where(c)` 10x, `np.result_type` 9x, `np.copyto` 8.6x, `np.put` 6x and the "
        "other eager functions (Python evaluation and wrapping), `x.sort()` 7x "
        "(the recording path in Python), `np.float64(3.0) * x` 6.5x (NumPy's scalar "
        "calls the ufunc's override, `__array_ufunc__`, in Python), `s.repeat(2)` 10x, "
        "`np.fft.fft` 3.8x (a meta transform per call), `x.clip` 3.2x, "
        "`random.permutation` 3.9x; on 800 KB arrays `X.take([1, 2])` 17x, "
        "`X.searchsorted(3.0)` 11x, `np.result_type(X, 1)` 9.6x (eager functions ran in "
        "C only under the run-now size, though they run now whatever it), `np.tile` 2.5x "
        "(349 us against 140: a second copy of NumPy's result, a reshape of its own "
        "`repeat`), `np.split` 5x (its views made in Python). Each now runs in C (views, "
        "lists of views, and results that view a new array nothing else holds kept as "
        "NumPy returns them; eager functions and `ndarray` methods with `run_now`'s "
        "`IDLE`: arrays no pending op uses, as they may write them); the table shows "
        "what is left: one Python frame or two in front of NumPy's call (0.2-0.5 us; "
        "`x.tobytes()`, 0.12-0.14 us in NumPy, goes through the generated method and "
        "`run_now`'s general argument handling: 3.2x; `np.result_type(X, 1)`, 2.8-3.1x "
        "from run to run).", "",
        "The twenty-fourth session timed the `%timeit` lines of published notebooks "
        "(Python Data Science Handbook, Python for Data Analysis) and about 200 more "
        "calls, and added the classes it found to the sweep (the last 21 calls): list "
        "keys and index arrays beside other indices (`x[[1, 5, 7]]` 6.3x NumPy's time, "
        "`m[idx, 2]` 5.2x, `m[:, [0, 2]]` 3.5x), NumPy integers as keys (`x[np.int64(1)]` "
        "8.2x), field names (`r['a'] = 1.0` 12.7x), lists and NumPy arrays as values "
        "(`x[1:3] = [1, 2]` 9.9x, `m[0] = n` 13.7x), NumPy arrays as operands "
        "(`x + n` 5.3x, `n + x` 11.9x, `n @ m` 12.4x, `np.sin(n)` 6.2x), ufuncs of "
        "numbers (`np.sqrt(2.0)` 15x), comparisons with a string (`names == 'b'` 7x), "
        "`np.linalg.svd` of a 4x3 matrix 4.1x (two dtype probes per call, now kept). "
        "Each took a Python path; they now run in C (docs/architecture.md, \"The compiled "
        "base class\"): 1.0-1.7x, `n @ m` 2.4x and `n + x` 3.5x (NumPy's dispatch to "
        "`__array_ufunc__` in Python, then dagrt's ufunc in C), `svd` 2.1x.", ""]


SECTIONS = {"overhead": overhead, "calls": calls, "instructions": instructions, "chain": chain,
            "independent": independent, "chunked": chunked,
            "auto_parallelism": auto_parallelism, "streams": streams, "examples": examples,
            "cluster": cluster}


def main() -> None:
    lines = ["# Benchmarks", "",
             "Every benchmark in `bench/` runs dagrt and NumPy side by side in one run and "
             "prints the ratios, each side in a fresh process under the same settings: "
             "`import dagrt` raises glibc's malloc thresholds for its process "
             "(`dagrt/engine/memory.py`), so NumPy's side gets the same thresholds through "
             "glibc's environment variables, and its best BLAS thread count; NumPy as "
             "installed is shown too. `--quick` is the smoke test the test suite runs, "
             "`--trace` writes a Chrome trace and a timeline picture to `bench/results/`. "
             "This page is generated from `bench/results/*.json` by `python bench/report.py` "
             "(see its docstring for the full command); the machine is the project's "
             "2-core VM, whose timings vary by 10-30% from run to run, and from day to "
             "day by more: on 2026-12-03 it ran 2.5-3x slower than on 2026-12-02, on "
             "2026-12-04 about 1.8x faster than on 2026-12-03 (NumPy's "
             "own times in each table show which day a section was measured). Compare "
             "ratios, not times across sections.", ""]
    for name, section in SECTIONS.items():
        record = load(name)
        if record is not None:
            lines += section(record)
    DOC.write_text("\n".join(lines))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
