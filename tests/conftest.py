"""Shared test set-up."""

import os

# torch's OpenMP threads spin-wait by default; on a busy 2-core machine that slows every
# other thread (and torch itself) by an order of magnitude. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
