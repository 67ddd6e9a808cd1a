"""Label less: which clips to label next (:mod:`.select`), the labels file a person fills in
(:mod:`.labels_file`) and the page to label them by ear (:mod:`.page`)."""
