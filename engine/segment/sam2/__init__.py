"""SAM 2 / SAM 2.1 (the ``sam2`` package) with a user checkpoint; torch and sam2 are imported
only when a model is built."""
