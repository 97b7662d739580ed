"""Scale-out: a collection split into shards (each an ordinary index version, listed by a shard
set), built and served either in one process or on a Ray cluster.

Only ``ray_*`` modules import Ray, and only the ``--cluster`` paths of the command line import
those; the rest of the package is plain Python over ``index`` and ``retriever``.
"""
