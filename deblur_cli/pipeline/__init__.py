"""decode -> engine -> encode for one file (:mod:`.video`), for many (:mod:`.batch`), and the ``run`` call (:mod:`.runner`)."""
