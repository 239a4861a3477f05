"""``python -m training.netcheck``: is this cluster fit for multi-node training?

A GPU health check on every rank, then an all-reduce sweep across every rank reported as
nccl-tests reports it (algorithm and bus bandwidth), and the transport NCCL chose, read from its
own log. It fails (exit 1, one line) on a bad GPU, a bus bandwidth below ``--min-busbw``, or, with
``--require-efa``, traffic that did not go over EFA through the AWS OFI NCCL plugin.
"""
