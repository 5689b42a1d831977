"""Predictors: scikit-learn estimators over encoded architectures. Installed as ``nabench.predictors``."""
