"""Why NTRBA-SC stalls from a uniform start under the published band (benchmarks/RESULTS.md, "The start").

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_uniform_start.py [rho n p seed fraction]

On one calibrated design (default (0.90, 100, 150), seed 0) at the calibrated start and at the uniform
start ``x = log(fraction alpha_max)`` (default fraction 0.1), for each band: the number of coordinates
in the biactive band, ``||h||`` of the SC hypergradient, and the trust-region ratio ``ared/pred`` of
the step ``-t h/||h||`` for t -> 0 (NTRBA's Cauchy step at a small radius, no box). A limit below
``eta_accept = 0.1`` means every trial is rejected however far the radius shrinks. Then, for the
calibrated start and the published band: NTRBA's first trial (projected Cauchy step) at several radii,
with its ratio and how many hidden features it turns active, and the hidden features' ``|v| / u``.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.experiments.bilevel import Settings, band_kwargs  # noqa: E402

rho, n, p, seed, frac = (float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])) \
    if len(sys.argv) > 5 else (0.90, 100, 150, 0, 0.1)  # fmt: skip
d = calibrated_degenerate(seed, n=n, p=p, rho=rho)
F = d.lower_level()
box = Settings().box_bounds(d.alpha_max)
starts = {"calibrated": jnp.clip(jnp.asarray(d.x0), *box), f"log({frac:g} alpha_max)": jnp.full(p, np.log(frac * d.alpha_max))}


def phi(x):
    return float(d.validation_loss(fbjax.solve(F, x, tol=1e-13).y))


for name, x in starts.items():
    y = fbjax.solve(F, x).y
    for band in ("published", "scale-free"):
        kw = band_kwargs(Settings(band=band), F.A)
        gamma = kw.get("partition_gamma", fbjax.solvers.default_gamma(F))  # the step argmin reads the partition at
        u, v = fbjax.fb.forward_map(F, x, y, gamma)
        codes = fbjax.fb.partition(u, v, kw["biactive_rtol"], kw.get("biactive_floor", 0.0))
        nb = int(jnp.sum(fbjax.fb.is_biactive(codes)))
        h = jax.grad(lambda x: d.validation_loss(fbjax.argmin(F, x, policy="sc", y0=y, **kw)))(x)
        hn = float(jnp.linalg.norm(h))
        ratios = [(phi(x) - phi(x - t * h / hn)) / (t * hn) for t in (1e-3, 1e-5, 1e-7)]
        print(f"({rho}, {n}, {p}) seed {seed}, start {name}, band {band}: {nb} of {p} biactive, ||h|| = {hn:.3f}, "
              f"ared/pred at t = 1e-3, 1e-5, 1e-7: {', '.join(f'{r:.4f}' for r in ratios)}")  # fmt: skip
        if name == "calibrated" and band == "published":
            hid = np.asarray(d.groups["hid"])
            print(f"  hidden |v| / u at x0: {np.round(np.abs(np.asarray(v)[hid]) / np.asarray(u)[hid], 4)}")
            for radius in (0.025, 0.1, 0.15, 0.2):
                xt = jnp.clip(x - radius * h / hn, *box)
                yt = fbjax.solve(F, xt).y
                ratio = (phi(x) - phi(xt)) / float(-jnp.vdot(h, xt - x))
                print(f"  first trial at radius {radius}: ared/pred {ratio:.4f}, hidden features active "
                      f"{int(jnp.sum(yt[hid] != 0))} of {hid.size}")  # fmt: skip
