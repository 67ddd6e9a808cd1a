"""Workflows: what the ``graham`` commands do, as plain functions over typed requests
(:mod:`.requests`: a :class:`~.requests.DataSource` and :class:`~.requests.ModelSettings`)
that return results and write bundles, reports and tables. Import the modules themselves:
this package loads nothing."""
