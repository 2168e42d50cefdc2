"""Feature step of the slow model (train.py's v2-slow). Importable by name: joblib pickles
FunctionTransformer's function as a reference, so MLServer's process needs this directory on
PYTHONPATH (the Rust harness sets it)."""

import os
import time

# Seconds per request; MLCANARY_SLOW_SECONDS lets a test choose it when starting MLServer.
SLOW_SECONDS = float(os.environ.get("MLCANARY_SLOW_SECONDS", "0.2"))


def lookup_delay(x):
    time.sleep(SLOW_SECONDS)
    return x
