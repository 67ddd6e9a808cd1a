"""Evaluation: splits (random, grouped, k-fold, given lists), metrics, the baselines, the
registry of Table 1's methods and the protocol that runs them. Import the modules themselves
(``graham.evaluate.protocol``, ...): this package loads nothing."""
