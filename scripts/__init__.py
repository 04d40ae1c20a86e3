"""Repository scripts (run by CI, by the compose stack or by hand); importable for their tests."""
