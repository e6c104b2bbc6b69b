"""Diagnosis: what an error is and, where the facts settle it, its fix, computed rather than generated.

``facts.py`` reduces a traceback (and the kernel's values) to facts, ``causes.py``
names the cause, ``certain_fixes.py`` fixes what the facts settle, and
``service.py`` is the one Explain / Fix service every front door calls (the
REST API, chat, the debug panel and the notebook magics).
"""
