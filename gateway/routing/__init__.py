"""Routing: pure scoring and policy resolution, and the attempt loop that walks the ranking."""
