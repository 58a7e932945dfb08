"""Pictures of results: overlays on frames and short preview videos."""
