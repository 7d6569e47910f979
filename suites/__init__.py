"""The attrbench benchmark suites (pytest files), installed as ``attrbench.suites``.

Run from a checkout with ``pytest suites/`` or from an installed wheel with
``pytest --pyargs attrbench.suites``.
"""
