"""Running the network over a stream of frames: the recurrent engine, tiling, device settings and building it."""
