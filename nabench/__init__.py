"""nabench: benchmark suite and model zoo for neural-architecture performance predictors.

Importing nabench does nothing on disk and starts nothing: corpora are built and loaded
only when asked (see :mod:`nabench.corpora`).
"""

__version__ = "0.1.0"
