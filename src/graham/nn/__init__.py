"""Networks: the Xception backbone, the Siamese pair head, the GrahAM graph layer and GNN."""
# Names resolve on first use (PEP 562): importing one light submodule (a reader, the decoder)
# does not load torch through this package's other modules.
from importlib import import_module as _import_module

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


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
