"""How OpenMP threads wait between parallel regions; set before torch is imported."""

from __future__ import annotations

import os

# Iterations a worker spins (about 0.1 ms here) before it sleeps. libgomp's default
# (300,000, a few ms of spinning after every region) starves everything else on small CPUs;
# no spinning at all (OMP_WAIT_POLICY=PASSIVE) costs a SAM click 10–20% in wake-ups between
# its ~150 short operations.
SPIN_COUNT = "10000"


def configure_openmp() -> None:
    """Short spinning, unless the user chose a wait policy or spin count."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
