"""Paper experiments that are not checks: they measure networks, not methods, and write
tables rather than leaderboard rows.

- :mod:`~attrbench.experiments.influence`: 001 §4.2 (neuron importance on the digits MLP)
  and §4.4 (window attacks on the digits CNN);
- :mod:`~attrbench.experiments.boolean_report`: the generator of docs/boolean.md
  (``python -m attrbench.experiments.boolean_report docs/boolean.md``).
"""
