"""HTTP surface only: OpenAI routes, health, error rendering, pure-ASGI middleware."""
