"""Vector memory: learned files and accepted examples in chromadb, per user.

``vector_memory.py`` stores and searches, ``chunking.py`` splits files,
``indexer.py`` learns paths, ``learn_tasks.py`` runs learning as scheduler tasks
and ``follower.py`` keeps learned folders in step with the disk.
"""
