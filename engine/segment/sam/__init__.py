"""SAM (segment_anything) with a user checkpoint; torch is imported only when a model is built."""
