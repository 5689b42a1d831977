"""Zero-cost proxies: graph → torch module, one shared-pass engine, corpus-scale computation.

Nothing heavy is imported here; see :mod:`nabench.zc.convert`, :mod:`nabench.zc.proxies`,
:mod:`nabench.zc.data`, :mod:`nabench.zc.compute` and :mod:`nabench.zc.compare`.
"""
