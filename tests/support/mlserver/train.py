"""Trains the small scikit-learn models the MLServer tests serve (no downloads, a few seconds).

Usage: python train.py OUT_DIR

Writes OUT_DIR/<variant>/model.joblib for each variant:
  v1        the stable version: one-hot merchant category (unknown categories ignored), amount, hour
            -> logistic regression "is this transaction fraud".
  v2-good   retrained on a fresh sample with the same recipe: behaves like v1.
  v2-unseen trained on a snapshot without the "gaming" category, with an encoder that refuses
            categories it never saw (OneHotEncoder(handle_unknown="error")): every request whose
            merchant category is "gaming" raises ValueError in transform, which MLServer answers 500
            and counts in model_infer_request_failure_total. The load mix sends ~10% "gaming".
  v2-slice  the v2-good recipe trained on a snapshot whose "travel" transactions were all labelled
            fraud (a labelling bug on one slice): it answers like v1 elsewhere and flags most
            travel transactions (~10% of the load mix), which v1 mostly does not.
  v2-slow   v2-good behind a feature-lookup step that takes SLOW_SECONDS per request (a remote feature
            store call, played by a sleep in fd_features.lookup_delay).

Deterministic (fixed seeds). The pipelines read a pandas DataFrame: requests carry
`"parameters": {"content_type": "pd"}` so MLServer's PandasCodec decodes the inputs to columns.
"""

import os
import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import fd_features

CATEGORIES = ["grocery", "fuel", "electronics", "travel", "gaming"]
# Request mix of the load generator (tests/support/mlserver/load.rs keeps the same numbers).
WEIGHTS = [0.35, 0.25, 0.20, 0.10, 0.10]
RISK = {"grocery": -1.5, "fuel": -1.0, "electronics": 0.5, "travel": 1.0, "gaming": 1.5}


def sample(n, seed, categories=CATEGORIES, weights=WEIGHTS):
    rng = np.random.default_rng(seed)
    w = np.array(weights) / np.sum(weights)
    cat = rng.choice(categories, size=n, p=w)
    amount = np.round(rng.lognormal(mean=3.5, sigma=1.0, size=n), 2)
    hour = rng.integers(0, 24, size=n)
    logit = (
        np.array([RISK[c] for c in cat])
        + 0.01 * (amount - 40.0)
        + np.where((hour < 6) | (hour > 22), 1.0, -0.5)
        - 1.5
    )
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame({"category": cat, "amount": amount, "hour": hour}), y.astype(int)


def pipeline(handle_unknown, slow=False):
    features = ColumnTransformer(
        [
            ("category", OneHotEncoder(handle_unknown=handle_unknown), ["category"]),
            ("numbers", StandardScaler(), ["amount", "hour"]),
        ]
    )
    steps = []
    if slow:
        steps.append(("lookup", FunctionTransformer(fd_features.lookup_delay)))
    steps += [("features", features), ("clf", LogisticRegression(max_iter=500))]
    return Pipeline(steps)


def main():
    out = sys.argv[1]
    x_slice, y_slice = sample(4000, seed=2)
    y_slice = np.where(x_slice["category"] == "travel", 1, y_slice)
    variants = {
        "v2-slice": (pipeline("ignore"), (x_slice, y_slice)),
        "v1": (pipeline("ignore"), sample(4000, seed=1)),
        "v2-good": (pipeline("ignore"), sample(4000, seed=2)),
        "v2-unseen": (
            pipeline("error"),
            sample(4000, seed=3, categories=CATEGORIES[:4], weights=WEIGHTS[:4]),
        ),
        "v2-slow": (pipeline("ignore", slow=True), sample(4000, seed=2)),
    }
    for name, (model, (x, y)) in variants.items():
        model.fit(x, y)
        os.makedirs(os.path.join(out, name), exist_ok=True)
        joblib.dump(model, os.path.join(out, name, "model.joblib"))
    print("trained", ", ".join(variants))


if __name__ == "__main__":
    main()
