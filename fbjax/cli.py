"""The ``fbjax`` command.

``fbjax demo``: the gradient-starvation study on one calibrated degenerate instance of the main
paper (Sec. 5.4, (n, p) = (200, 300), rho = 0.98, seed 0, the paper's Fig. 5 instance): scalar l1
by grid search, weighted Sparse-HO (null policy) and NTRBA with the sign-consistent policy, as a
table (hidden-block subgradient at k = 0, best validation loss, support F1) and a PNG of the
trajectories. ``fbjax demo --starvation`` adds the k = 0 study over all nine Table 3 configurations.

``fbjax reproduce NAME`` (exp1, table1, table2, table3, aip-regression, aip-classification, exp5-s1, exp5-s2): the
paper's experiments, resumable (``runs.jsonl``), with a Markdown table beside the paper's numbers and PNG figures.
``exp5-s1`` / ``exp5-s2`` (Experiment 5, Settings 1 and 2) run on LIBSVM files given as ``--data NAME=PATH`` (the
paper's datasets are downloads); without ``--data`` on scikit-learn's bundled digits / breast-cancer data.
``hypergrad-compare``: every hypergradient method on one non-degenerate and one degenerate
instance (error, time, memory vs K or mu; CSV + PNG). ``group-structure``: Frecon et al.'s
synthetic group-lasso structure learning (ARI, comparison with oracle-group lasso and lasso).

``fbjax bench``: forward (lower-level solve) and backward (hypergradient) time of ``fbjax.argmin`` on
this machine, on random weighted-lasso problems of the given sizes (a Markdown table and JSON).

``demo`` and ``reproduce`` keep their compiled programs in JAX's persistent compilation cache,
``~/.cache/fbjax/jax`` by default (``--compile-cache DIR|none``, ``$FBJAX_COMPILE_CACHE``), so a later run loads
them instead of compiling them.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time

from fbjax.experiments.demo import demo, demo_instance
from fbjax.experiments.specs import DATA_EXPERIMENTS


# Experiments outside the seed-sweep machinery: modules with run(folder, quick), markdown(result), plot(result, path).
STANDALONE = {"hypergrad-compare": "hypergrad", "group-structure": "groups"}
EXPERIMENTS = ["exp1", "table1", "table2", "table3", "aip-regression", "aip-classification", "exp5-s1", "exp5-s2",
               *STANDALONE]  # fmt: skip


def reproduce(
    name: str, out: str, quick: bool = False, seeds=None, how: str = "auto", plot: bool = True, band: str | None = None,
    start: float | str | None = None, box_lower: float | None = None, solver: str | None = None,
    data: dict | None = None, max_samples: int | None = None,
) -> str:
    """Run one of the paper's experiments into ``out/NAME`` (resumable) and return its Markdown."""
    from fbjax.experiments import exp1, report, specs, sweep

    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    t0 = time.perf_counter()
    if name == "exp1":
        md = exp1.markdown(exp1.run(folder))
    elif name in STANDALONE:
        import importlib

        module = importlib.import_module(f"fbjax.experiments.{STANDALONE[name]}")
        result = module.run(folder, quick=quick)
        md = module.markdown(result)
        if plot:
            png = os.path.basename(module.plot(result, os.path.join(folder, f"{name.replace('-', '_')}.png")))
            md += f"\n![{png}]({png})\n"
    else:
        exp = specs.get(name, quick=quick, seeds=seeds, band=band, start=start, box_lower=box_lower, solver=solver,
                        data=data, max_samples=max_samples)  # fmt: skip
        store = sweep.run(exp, folder, how=how)
        md = report.markdown(exp, store, wall_s=time.perf_counter() - t0)
        if plot:
            paths = report.plot(exp, store, os.path.join(folder, name))
            md += "\n" + "\n".join(f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in paths) + "\n"
    with open(os.path.join(folder, f"{name}.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"results in {folder}/ ({time.perf_counter() - t0:.0f} s)")
    return md


def bench(sizes, repeats: int = 5, out: str = "fbjax-bench") -> list[dict]:
    """``fbjax bench``: :func:`fbjax.experiments.timing.forward_backward` per size, the JSON rewritten after each."""
    import jax
    from tqdm import tqdm

    from fbjax.experiments import timing

    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    rows = []
    for p in tqdm(sizes, desc="bench", unit="size", file=sys.stderr):
        rows.append(timing.forward_backward(p, repeats))
        with open(os.path.join(out, "bench.json"), "w") as f:
            json.dump({"jax": jax.__version__, "repeats": repeats, "rows": rows}, f, indent=1)
    text = timing.table(rows)
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(f"`fbjax bench --p {' '.join(map(str, sizes))} --repeats {repeats}` (jax {jax.__version__}, "
                f"{jax.default_backend()}, float64; medians after a warm-up)\n\n{text}\n")  # fmt: skip
    print(text)
    return rows


def _start(text: str):
    """``--start``: ``scalar`` or a number ``F > 0``, as :class:`~fbjax.experiments.bilevel.Settings` accepts."""
    from fbjax.experiments.bilevel import Settings

    try:
        value = text if text == "scalar" else float(text)
        Settings(start=value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'scalar' or a number F > 0, got {text!r}") from None
    return value


def _box_lower(text: str) -> float:
    """``--box-lower``: ``none`` (no lower bound) or a number ``C`` below the box's upper end."""
    from fbjax.experiments.bilevel import Settings

    try:
        value = -float("inf") if text == "none" else float(text)
        Settings(box=(value, Settings.box[1]))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'none' or a number C < log 0.9 (the bound log(alpha_max) + C), got {text!r}"
        ) from None
    return value


def _solver(text: str) -> str:
    """``--solver``: a name :class:`~fbjax.experiments.bilevel.Settings` accepts (``fbjax.solvers.NAMES``)."""
    from fbjax.experiments.bilevel import Settings

    try:
        Settings(solver=text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _data(text: str) -> tuple[str, str]:
    """``--data NAME=PATH``: a dataset name for the report and an existing LIBSVM file."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--data takes NAME=PATH (e.g. rcv1=rcv1_train.binary), got {text!r}")
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"--data {name}: no file at {path!r}")
    return name, os.path.abspath(path)


def _int_at_least(minimum: int, what: str):
    """An argparse ``type``: an integer ``>= minimum``, refused with a message naming ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


COMPILE_CACHE_MIN_SECONDS = 0.2  # programs that compile faster than this are not written to the cache


def default_compile_cache() -> str:
    """``$FBJAX_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/fbjax/jax`` (``~/.cache/fbjax/jax``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("FBJAX_COMPILE_CACHE") or os.path.join(base, "fbjax", "jax")


def jax_cache_dir():
    """The folder of JAX's persistent compilation cache if it has one (``JAX_COMPILATION_CACHE_DIR``), else None."""
    import jax

    return jax.config.jax_compilation_cache_dir


def _set_compile_cache(folder):
    """``--compile-cache``: JAX's persistent compilation cache in ``folder`` (``"none"``: off), unless JAX already
    has one (``JAX_COMPILATION_CACHE_DIR``). fbjax's whole programs hold no host callback (:mod:`fbjax._errors`),
    so a second run loads them instead of compiling them."""
    import jax

    if folder == "none" or jax_cache_dir():
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        print(f"fbjax: --compile-cache {folder}: cannot create it ({e.strerror or e}); compiling without a cache",
              file=sys.stderr)  # fmt: skip
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", COMPILE_CACHE_MIN_SECONDS)


def _set_device(device):
    """``--device``: JAX's platform, set through ``jax.config`` before any backend starts. (``JAX_PLATFORMS``
    set here would come too late: importing ``fbjax`` imported JAX, which read it then.)"""
    if device is None:
        return
    import jax

    jax.config.update("jax_platforms", {"cpu": "cpu", "gpu": "cuda"}[device])
    try:
        jax.devices()
    except Exception as e:  # noqa: BLE001 - JAX raises several kinds here, an AssertionError among them
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise SystemExit(f"fbjax: --device {device}: JAX could not start that backend ({why}); "
                         "a GPU needs JAX's CUDA build (see JAX's installation guide)") from e  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fbjax", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="gradient starvation on one calibrated instance: scalar, Sparse-HO, NTRBA-SC")
    d.add_argument("--starvation", action="store_true", help="also the k = 0 study over the 9 Table 3 configurations")
    seeds = _int_at_least(1, "--seeds")
    d.add_argument("--seeds", type=seeds, default=None,
                   help="seeds per configuration of --starvation (default 5, the paper's) or --quick (default 2)")
    d.add_argument("--out", default="fbjax-demo", help="output folder (JSON + PNG)")
    d.add_argument("--quick", action="store_true", help="--starvation on one small configuration (2 seeds unless "
                   "--seeds), without the instance's table")
    d.add_argument("--no-plot", action="store_true")
    d.add_argument("--device", choices=["cpu", "gpu"], default=None)
    r = sub.add_parser("reproduce", help="experiments: " + ", ".join(EXPERIMENTS))
    r.add_argument("name", choices=EXPERIMENTS)
    r.add_argument("--quick", action="store_true", help="small sizes and few iterations (minutes; exp1, two fixed "
                   "instances, takes seconds either way)")
    r.add_argument("--seeds", type=seeds, default=None, help="seeds per configuration of the seed sweeps (default: "
                   "the paper's; exp1, hypergrad-compare and group-structure run fixed instances)")
    r.add_argument("--out", default="fbjax-results", help="output folder; an interrupted run resumes from it")
    r.add_argument("--device", choices=["cpu", "gpu"], default=None, help="JAX backend (default: JAX's choice)")
    r.add_argument("--batch", choices=["auto", "map", "vmap"], default=None,
                   help="seed batching: lax.map (CPU default) or vmap (GPU default); 'auto' when not given")
    r.add_argument("--band", choices=["published", "scale-free"], default=None,
                   help="biactive band: 'published' (the partition behind the paper's tables, scale max(|v|, u, 1); "
                   "the default of table1-3) or 'scale-free' (max(|v|, u); fbjax's default and the AIP designs')")
    r.add_argument("--start", type=_start, default=None, metavar="F|scalar",
                   help="outer start for every feature: x0 = log(F alpha_max), or 'scalar' for the best penalty of "
                   "the validation grid (default: the experiment's own, e.g. the calibrated x0 of Tables 2-3, "
                   "'scalar' for the AIP designs; 'scalar' without --box-lower lowers the box's end to the grid's, "
                   "log(1e-3 alpha_max), if it is higher); use with its own --out")
    r.add_argument("--box-lower", type=_box_lower, default=None, metavar="C|none",
                   help="lower end of the box for x = log(alpha): log(alpha_max) + C, or 'none' for no lower bound "
                   "(default: the experiment's own, C = -5 as the paper code, 'none' for the AIP designs); use "
                   "with its own --out")
    r.add_argument("--solver", type=_solver, default=None, metavar="fista|fista-newton|cd|auto",
                   help="lower-level solver of the seed sweeps (default: the experiment's own, FISTA; 'auto': "
                   "coordinate descent on CPU, FISTA on GPU; 'fista-newton': FISTA with Newton steps on its settled "
                   "supports); use with its own --out")
    r.add_argument("--data", type=_data, action="append", default=None, metavar="NAME=PATH",
                   help="exp5-s1, exp5-s2: a LIBSVM file, named NAME in the report (exp5-s1 builds its semi-synthetic "
                   "design from the features: rcv1, real-sim, w8a, news20 get the paper's numbers; exp5-s2 uses the "
                   "labels: mnist, news20, phishing, rcv1, real-sim); repeat for several (default: scikit-learn's "
                   "bundled digits / breast-cancer data, offline stand-ins)")
    r.add_argument("--max-samples", type=_int_at_least(5, "--max-samples"), default=None, metavar="N",
                   help="exp5-s1, exp5-s2: keep N rows of each dataset, drawn at random (seed 0) before the splits")
    r.add_argument("--no-plot", action="store_true")
    b = sub.add_parser("bench", help="forward and backward time of fbjax.argmin on this machine")
    b.add_argument("--p", type=_int_at_least(20, "a problem size"), nargs="+", default=[300, 3000],
                   help="feature counts (n = 2p/3); default 300 3000")
    b.add_argument("--repeats", type=_int_at_least(1, "--repeats"), default=5,
                   help="timed calls per measurement, after one warm-up")
    b.add_argument("--out", default="fbjax-bench", help="output folder (bench.json, bench.md)")
    b.add_argument("--device", choices=["cpu", "gpu"], default=None)
    for p in (d, r):  # not bench: it times compiles
        p.add_argument("--compile-cache", default=default_compile_cache(), metavar="DIR|none",
                       help="keep compiled programs in DIR for later runs (JAX's persistent compilation cache; "
                       "default: $FBJAX_COMPILE_CACHE or ~/.cache/fbjax/jax; 'none': off; ignored where "
                       "JAX_COMPILATION_CACHE_DIR is set)")
    args = parser.parse_args(argv)
    sweep_flags = args.command == "reproduce" and any(
        v is not None for v in (args.seeds, args.batch, args.band, args.start, args.box_lower, args.solver))
    if sweep_flags and (args.name == "exp1" or args.name in STANDALONE):  # (they ran, ignoring them)
        parser.error(f"--seeds, --batch, --band, --start, --box-lower and --solver apply to the seed sweeps, not to "
                     f"{args.name}")  # fmt: skip
    if args.command == "demo" and args.seeds is not None and not (args.starvation or args.quick):
        parser.error("--seeds applies to --starvation and --quick (the demo's instance is seed 0)")
    if args.command == "reproduce" and (args.data or args.max_samples) and args.name not in DATA_EXPERIMENTS:
        parser.error(f"--data and --max-samples apply to {' and '.join(DATA_EXPERIMENTS)}, not to {args.name}")
    if args.command == "reproduce" and args.data:
        from fbjax.data import real

        for name, path in args.data:
            try:  # read now (the sweeps reuse the read: real.load caches it), so a bad file is a usage error
                real.load(path, args.max_samples)
            except ValueError as e:
                parser.error(f"--data {name}: {e}")
    try:  # before any compiling: a long run must not find out at its end that it cannot write
        os.makedirs(args.out, exist_ok=True)
        if not os.access(args.out, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as e:
        parser.error(f"--out {args.out}: cannot create or write that folder ({e.strerror or e})")
    _set_device(args.device)
    _set_compile_cache(getattr(args, "compile_cache", "none"))
    if args.command == "bench":
        bench(args.p, args.repeats, args.out)
    elif args.command == "demo":
        if args.quick:
            demo(seeds=args.seeds or 2, out=args.out, sizes=[(100, 150)], rhos=[0.95], plot=not args.no_plot)
        else:
            demo_instance(out=args.out, plot=not args.no_plot)
            if args.starvation:
                demo(seeds=args.seeds or 5, out=args.out, plot=not args.no_plot)
    else:
        reproduce(
            args.name, args.out, quick=args.quick, seeds=args.seeds, how=args.batch or "auto", plot=not args.no_plot,
            band=args.band, start=args.start, box_lower=args.box_lower, solver=args.solver,
            data=dict(args.data) if args.data else None, max_samples=args.max_samples,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
