"""The bundle's reference graph at inference: its clips as nodes (their hidden states and, with
the ``cpu`` preset, correct & smooth among them computed once), and new nodes (the windows of a
clip) attached to them as the bundle's graph says, their class probabilities and the training
clips nearest them. A new node receives messages from reference nodes only, so a clip's result
never depends on the clips predicted with it."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ParameterError
from ..nn.graphs import attach_graph, build_graph
from ..nn.node_features import node_features, standardise
from ..nn.propagate import SmoothConfig, attach_smoothed, graph_coordinates, normalise_scores, smooth_reference
from .bundle import Bundle

__all__ = ["ReferenceGraph", "NearestClip"]

#: (clip id, label or None, cosine similarity) of a training clip near a query.
NearestClip = tuple[str, "str | None", float]


class ReferenceGraph:
    """The reference nodes of ``bundle`` on ``device``, with its GNN and pair head."""

    #: New nodes per inductive pass of :meth:`node_probabilities`.
    NODES_PER_PASS = 256

    def __init__(self, bundle: Bundle, device: torch.device) -> None:
        self.bundle, self.device = bundle, device
        self.gnn = bundle.gnn.to(device).eval()
        self.head = bundle.siamese.head.to(device).eval()
        self.reference = bundle.standardised_reference().to(device)
        self.mean = torch.as_tensor(bundle.mean, dtype=torch.float32, device=device)
        self.scale = torch.as_tensor(bundle.scale, dtype=torch.float32, device=device)
        self.raw_reference = torch.as_tensor(bundle.reference, dtype=torch.float32, device=device)
        self._reference_unit = torch.nn.functional.normalize(self.raw_reference, dim=1)
        cfg = self.gnn.config
        # The reference nodes' hidden features do not depend on the query: compute them once.
        ref_labels = torch.as_tensor(bundle.reference_labels, device=device)
        with torch.no_grad():
            graph = build_graph(cfg.graph, self.raw_reference, k=cfg.k, head=self.head)
            self._ref_states = self.gnn.reference_states(self.reference, graph, labels=ref_labels)
            # Correct & smooth among the reference clips once; a query's windows attach to them.
            self._smoothed = None
            if cfg.smooth:
                ref_proba = torch.softmax(self.gnn(self.reference, graph, labels=ref_labels), 1)
                labelled = torch.nonzero(ref_labels >= 0).flatten()
                self._smoothed = smooth_reference(ref_proba, self.graph_coordinates(self.raw_reference),
                                                  ref_labels[labelled], labelled, SmoothConfig(k=cfg.k))

    def node_logits_grad(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """GNN logits of new nodes [shape=(W, classes)] with Siamese ``embeddings`` attached to
        the reference nodes (every one, the k nearest, or every one weighted by s_ij), through
        :meth:`GrahamGNN.forward_inductive`; differentiable (Grad-CAM++ through the whole
        model). ``stats``: the band statistics of each node's clip [shape=(3 n_mels,) for all,
        or (W, 3 n_mels)]; needed when the GNN reads them."""
        emb = embeddings.to(self.device)
        cfg = self.gnn.config
        if cfg.band_statistics and stats is None:
            raise ParameterError("this model reads each clip's band statistics: pass stats=clip_statistics(mel)")
        x = node_features(emb, stats if cfg.band_statistics else None)
        with torch.no_grad():
            attach = attach_graph(cfg.graph, self.raw_reference, emb.detach(), k=cfg.k, head=self.head)
        return self.gnn.forward_inductive(None, standardise(x, self.mean, self.scale), attach=attach,
                                          ref_states=self._ref_states)

    def graph_coordinates(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Embeddings standardised as in training: what correct & smooth's kNN graph is built on."""
        return graph_coordinates(embeddings.to(self.device), self.mean, self.scale)

    @torch.no_grad()
    def node_probabilities(self, embeddings: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities of new nodes [shape=(W, classes)]: the GNN's softmax and, with the
        GNN setting ``smooth``, correct & smooth with each node attached to its k nearest
        reference clips (:func:`graham.nn.propagate.attach_smoothed`), scores normalised to sum 1.
        New nodes go through in groups of ``NODES_PER_PASS``: a node's messages come from reference
        nodes only, so the groups give the same result, in memory that does not grow with W."""
        per_node = stats is not None and stats.dim() == 2  # else one clip's statistics for every node
        step = self.NODES_PER_PASS
        return torch.cat([self._node_probabilities(embeddings[k:k + step],
                                                   stats[k:k + step] if per_node and stats is not None else stats)
                          for k in range(0, embeddings.shape[0], step)])

    def _node_probabilities(self, embeddings: torch.Tensor, stats: torch.Tensor | None) -> torch.Tensor:
        proba = torch.softmax(self.node_logits_grad(embeddings, stats), dim=1)
        if self._smoothed is None:
            return proba
        return normalise_scores(attach_smoothed(self._smoothed, proba, self.graph_coordinates(embeddings)))

    @torch.no_grad()
    def nearest(self, window_embeddings: torch.Tensor | np.ndarray, k: int) -> list[NearestClip]:
        """The ``k`` training clips most similar to a clip, given its windows' embeddings
        [shape=(W, d)]: by the mean over windows of the cosine similarity, which is the mean
        of the windows' unit vectors against each clip's unit vector (one product, whatever W)."""
        if k <= 0:
            return []
        emb = torch.as_tensor(window_embeddings, dtype=torch.float32, device=self.device)
        mean_unit = torch.nn.functional.normalize(emb, dim=1).mean(0)
        sims = self._reference_unit @ mean_unit
        top = torch.topk(sims, min(k, sims.shape[0]))
        ids, labels = self.bundle.reference_ids, self.bundle.reference_labels
        return [(ids[i] if ids is not None else f"reference {i}",
                 self.bundle.classes[labels[i]] if labels[i] >= 0 else None, round(float(s), 6))
                for s, i in zip(top.values.tolist(), top.indices.tolist())]
