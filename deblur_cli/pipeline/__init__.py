"""decode -> engine -> encode: one file (:mod:`.video`), many (:mod:`.batch`), the ``run`` call (:mod:`.runner`).

Importing this package imports nothing heavy (the command line reads the choices below for ``--help``).
"""

# Before/after layouts of ``--compare`` (:mod:`.compare` draws them).
COMPARE_MODES: tuple[str, ...] = ("side", "split")
