"""Fast builders of weightless ONNX graphs for search-space architectures.

``builder``: a small graph-building helper over ``onnx`` protobufs (deterministic names, shape
tracking, weightless or random/given weights, parameter and FLOP counting).
``nb201``: the NAS-Bench-201 network (:func:`nabench.onnx_build.nb201.build_nb201`).
"""
