"""graham: music genre classification with graph representation learning (GrahAM).

Audio clips become log-mel spectrograms, a Siamese network embeds them, and a graph network
over all clips classifies them (Dokania & Singh, "Graph Representation learning for Audio &
Music genre Classification").
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
