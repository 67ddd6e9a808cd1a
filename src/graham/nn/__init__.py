"""Networks: the Xception backbone, the Siamese pair head, the GrahAM graph layer and GNN."""
from ..utils.lazy import lazy_attributes

_WHERE = {
    "GNNConfig": ".gnn",
    "GrahamGNN": ".gnn",
    "GrahamConv": ".graham_conv",
    "complete_edge_index": ".graham_conv",
    "knn_graph": ".graphs",
    "siamese_edge_weights": ".graphs",
    "PairHead": ".siamese",
    "SiameseNet": ".siamese",
    "pair_features": ".siamese",
    "PRESETS": ".xception",
    "Xception": ".xception",
    "XceptionConfig": ".xception",
}

__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
