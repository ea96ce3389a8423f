"""nnplay's training engine: pure NumPy, no web imports."""
