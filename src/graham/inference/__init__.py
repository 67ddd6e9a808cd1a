"""Inference: a trained model on disk (:mod:`.bundle`, its format in :mod:`.bundle_format`),
audio to window embeddings (:mod:`.frontend`), the reference graph new clips join
(:mod:`.reference_graph`), the drivers over both (:mod:`.drivers`), the classifier that holds
them (:mod:`.predict`), output formats (:mod:`.formats`) and the HTTP service (:mod:`.serve`).

Nothing here imports training code: refitting a bundle's graph (:func:`graham.workflows.extend.extend_bundle`)
is reached only from :meth:`GenreClassifier.extend <graham.inference.predict.GenreClassifier.extend>`,
inside the method. Import the modules themselves: this package loads nothing."""
