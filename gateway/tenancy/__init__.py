"""Tenancy: gateway API keys and teams (stored as hashes in the ledger's database), their limits."""
