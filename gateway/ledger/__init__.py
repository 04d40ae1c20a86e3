"""The spend ledger: one row per client request, priced, written off the request path."""
