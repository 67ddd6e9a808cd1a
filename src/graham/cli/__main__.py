"""``python -m graham.cli``: the ``graham`` command (as ``torchrun -m graham.cli`` runs it)."""

from . import run

run()
