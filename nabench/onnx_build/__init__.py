"""Fast builders of weightless ONNX graphs for search-space architectures.

``builder``: a small graph-building helper over ``onnx`` protobufs (deterministic names, shape
tracking, weightless or random/given weights, parameter and FLOP counting). One module per space,
each with ``from_record(record, corpus, *, weights=None, metadata=None)`` (registered as the
``nabench.spaces`` entry points, keyed by the corpus ``space`` value) and a PyTorch reference
module in ``nabench.spaces.<space>_torch``:

``nb201`` (NAS-Bench-201, also AnalogNAS-Bench), ``nb101`` (NAS-Bench-101, also EC-NAS-Bench),
``nb301`` (DARTS / NAS-Bench-301), ``transnas`` (TransNAS-Bench-101 micro and macro),
``nasbench_graph`` (NAS-Bench-Graph GNNs), ``fbnet`` (HW-NAS-Bench FBNet), ``ofa`` (OFA MobileNetV3),
``nasbench_nlp`` (NAS-Bench-NLP recurrent cells in their language model, one time step).
"""
