"""Networks: the Xception backbone, the Siamese pair head, the GrahAM graph layer and GNN."""

from .gnn import GNNConfig, GrahamGNN
from .graham_conv import GrahamConv, complete_edge_index
from .graphs import knn_graph, siamese_edge_weights
from .siamese import PairHead, SiameseNet, pair_features
from .xception import PRESETS, Xception, XceptionConfig

__all__ = ["GNNConfig", "GrahamGNN", "GrahamConv", "complete_edge_index", "knn_graph", "siamese_edge_weights", "PairHead", "SiameseNet",
           "pair_features", "PRESETS", "Xception", "XceptionConfig"]
