"""Reading and writing files: video decode/encode and stream copy (PyAV), image frames, atomic outputs.

Nothing here knows about the network or the pipeline that joins them: the
pipeline hands RGB arrays to a sink and takes them from a source.
"""
