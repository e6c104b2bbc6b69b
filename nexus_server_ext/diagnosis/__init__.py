"""Diagnosis: what an error is and, where the facts settle it, its fix, computed rather than generated.

``facts.py`` reduces a traceback (and the kernel's values) to facts, ``causes.py``
names the cause, ``certain_fixes.py`` fixes what the facts settle (its rules by
kind: ``fixes_imports.py`` a missing or misspelt import, ``fixes_names.py`` a
misspelt name or attribute and a global, ``fixes_values.py`` a key, a number
joined to text, a range; each edits the cell as little as it can through
``cell_edits.py``), and ``service.py`` is the one Explain / Fix service every front door calls (the
REST API, chat, the debug panel and the notebook magics).
"""
