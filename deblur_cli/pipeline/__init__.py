"""decode -> engine -> encode: one file (:mod:`.video`), many (:mod:`.batch`), the ``run`` call (:mod:`.runner`).

A long video goes in resumable segments: :mod:`.segments` (where to cut), :mod:`.parts` (one
segment into one part), :mod:`.journal` and :mod:`.split` (the work folder, resume, the join),
:mod:`.distribute` (several devices), :mod:`.cluster` (Ray).

Importing this package imports nothing heavy (the command line reads the choices below for ``--help``).
"""

# Before/after layouts of ``--compare`` (:mod:`.compare` draws them); "map" shows the strength map instead.
COMPARE_MODES: tuple[str, ...] = ("side", "split", "map")

# Long videos are restored in segments of about this many seconds (``--segment``; :mod:`.segments`).
DEFAULT_SEGMENT_S: float = 30.0
