"""Constrained sampling of street layouts (``citygen.sample``).

The step loop (:mod:`.loop`), the batch state and position decisions (:mod:`.state`), the
street decisions (:mod:`.edges`), their shared draws and rule constants (:mod:`.rules`) and the
dead-end repair (:mod:`.snap`).
"""
