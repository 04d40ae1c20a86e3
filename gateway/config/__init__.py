"""providers.yaml and policies/: schemas, loading with file:line errors, the runtime view."""
