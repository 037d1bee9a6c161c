"""Release data: profiles (``releases/*.py``), the pinned repo's files, the compose model, drift.

Nothing here imports the inventory contract: the schema and the renderer use these modules.
"""
