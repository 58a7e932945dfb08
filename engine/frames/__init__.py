"""The frame server: decoded-frame LRU, background embeddings around the cursor, disk cache."""
