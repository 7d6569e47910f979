"""A worked example of an attrbench method plugin.

``attrbench_example.methods`` is the module named by this package's
``attrbench.methods`` entry point: installing the package is enough for
``attrbench list`` and the suites to find its methods. ``attrbench_example.overclaiming``
is deliberately *not* an entry point: it claims an axiom its method does not have, and
exists to show the gate failing (``--method attrbench_example.overclaiming:overclaiming_gxi``).
"""
