"""Training: the Siamese network (pairs, crops, augmentation, checkpoints, resume, torchrun),
the supervised CNN baseline, the GNN, and embeddings kept in shards. Import the modules
themselves (``graham.train.siamese``, ``graham.train.gnn``, ...): this package loads nothing."""
