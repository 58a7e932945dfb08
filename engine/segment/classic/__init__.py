"""The weight-free default segmenter: superpixels, a graph cut per click, boundary refinement."""
