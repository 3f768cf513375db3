"""Numerical engines: the compiled BDF kernel, its sparse LU, SciPy references, the compile
cache."""
