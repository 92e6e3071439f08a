"""Why NTRBA-SC never leaves x0 on Experiment 5 Setting 1's digits stand-in under the published band (session 27).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_exp5_band.py [--seeds 5]

Per seed of ``fbjax reproduce exp5-s1`` (digits, full size): the coordinates each band flags as biactive at the
calibrated x0 (and how many of them are hidden features), the SC hypergradient's norm, and NTRBA's first trial
ratio ``ared/pred`` at the default radius 0.1 along ``-h/||h||`` (projected onto the box), as the trust region
computes it for a Cauchy step of length ``Delta``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.data.semi_synthetic import semi_synthetic_from  # noqa: E402
from fbjax.experiments.bilevel import Settings, band_kwargs  # noqa: E402
from fbjax.fb import is_biactive, partition  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    for seed in range(args.seeds):
        d = semi_synthetic_from(seed, "digits")
        F, x0, hid = d.lower_level(jnp.float64), jnp.asarray(d.x0), d.groups["hid"]
        lo, hi = (jnp.log(d.alpha_max) + b for b in Settings.box)
        x0 = jnp.clip(x0, lo, hi)
        y = fbjax.solve(F, x0, tol=1e-12).y
        line = [f"seed {seed}:"]
        for band in ("published", "scale-free"):
            kw = band_kwargs(Settings(band=band), jnp.asarray(d.A_train))
            gamma = kw.get("partition_gamma", fbjax.solvers.default_gamma(F))
            u, v = gamma * jnp.exp(x0), y - gamma * F.grad(y)
            flagged = np.asarray(is_biactive(partition(u, v, kw["biactive_rtol"], kw.get("biactive_floor", 0.0))))
            phi = lambda x, kw=kw: d.validation_loss(fbjax.argmin(F, x, policy="sc", **kw))  # noqa: E731
            val, h = jax.value_and_grad(phi)(x0)
            ratios = []
            for delta in (0.1, 0.2, 0.5):
                x1 = jnp.clip(x0 - delta * h / jnp.linalg.norm(h), lo, hi)
                ared, pred = val - phi(x1), -jnp.vdot(h, x1 - x0)
                ratios.append(f"{delta}: {float(ared / pred):.3f}")
            line.append(f"{band}: {flagged.sum()} biactive ({flagged[hid].sum()} hidden), "
                        f"||h|| {float(jnp.linalg.norm(h)):.3f}, ared/pred at Delta {', '.join(ratios)} |")
        print(" ".join(line), flush=True)


if __name__ == "__main__":
    main()
