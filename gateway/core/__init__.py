"""The bottom layer: plain data and pure functions that every other package may share.

Nothing here does I/O or reads a clock; routing, upstream, state and ledger meet through these
types instead of importing each other.
"""
