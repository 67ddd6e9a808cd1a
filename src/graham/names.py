"""The names a user can give graham, in one table: split protocols, GNN modes, graph kinds,
presets and the methods of Table 1. The CLI's early checks, the readers and the trainers all
read them here, so adding a name is one edit (tests keep the registries that implement them
equal to these tuples). No import beyond the standard library: the CLI checks before torch loads.
"""

from __future__ import annotations

__all__ = ["DATASET_KINDS", "PROTOCOLS", "PROTOCOL_CHOICES", "ONE_SPLIT_PROTOCOLS", "MODES", "GRAPH_KINDS", "PRESETS",
           "METHOD_KEYS", "CROSS_FIT_OTHERS", "VALIDATION_EMBEDDINGS"]

#: The kinds of data set, as ``KIND:PATH`` names them (:func:`graham.data.spec.parse_dataset`).
DATASET_KINDS = ("gtzan", "audioset", "folder", "audio", "csv", "synthetic")
#: The split protocols that draw splits (:func:`graham.evaluate.splits.make_splits`).
PROTOCOLS = ("random", "grouped", "kfold", "given")
#: What ``--protocol`` takes: a protocol, ``auto`` (grouped where the corpus has groups of
#: several clips, else random) or ``paper`` (the paper's random split, by name).
PROTOCOL_CHOICES = ("auto", "paper") + PROTOCOLS
#: What the commands that train on one split take (k-fold is ``experiment``'s).
ONE_SPLIT_PROTOCOLS = tuple(p for p in PROTOCOL_CHOICES if p != "kfold")
#: How test clips meet the graph: unlabelled nodes while the GNN trains, or added afterwards.
MODES = ("transductive", "inductive")
#: The graphs GrahAM's GNN runs on (:func:`graham.nn.graphs.build_graph`).
GRAPH_KINDS = ("complete", "knn", "similarity")
#: The presets (:mod:`graham.presets`).
PRESETS = ("cpu", "paper")
#: The methods of Table 1, by key, in the order tables list them (the registry
#: :data:`graham.evaluate.methods.METHODS` holds the same keys; a test keeps them equal).
METHOD_KEYS = ("grahams_gnn", "random_forest", "mlp_2layer", "label_spreading", "supervised_cnn", "mel_floor")
#: What cross-fitting gives the clips outside the labelled set: the main network's embedding, or
#: the mean of the K part networks' (:func:`graham.evaluate.cross_fit.cross_fit_embeddings`).
CROSS_FIT_OTHERS = ("main", "mean")
#: What the Siamese network's validation embeds each clip by (``SiameseConfig.validation_embedding``):
#: its middle crop, or the mean over its windows (what the graph's nodes and the baselines read).
VALIDATION_EMBEDDINGS = ("centre", "clip")
