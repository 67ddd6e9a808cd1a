"""Auditing a music data set: exact and near duplicates (audio fingerprints), suspect labels
(confident learning on out-of-fold predictions), leakage across splits and groups, per-class
counts, and a page to check the worst cases by ear. Import the modules themselves
(``graham.audit.core``, ...), or run ``graham audit`` / :func:`graham.audit`."""
