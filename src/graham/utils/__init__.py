"""Utilities that know nothing of music or models, on the standard library (and torch where
named): atomic files (:mod:`.files`), the cache folder (:mod:`.paths`), lazy package
attributes (:mod:`.lazy`), a bounded read-ahead pool (:mod:`.parallel`), thread counts
(:mod:`.threads`), torchrun ranks (:mod:`.ranks`), ``--device`` (:mod:`.devices`),
safetensors files (:mod:`.tensorfile`), the code version (:mod:`.provenance`) and settings
compared for a resume (:mod:`.changes`). Import the modules themselves: this package loads
nothing."""
