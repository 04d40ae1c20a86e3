"""Pure translators between API dialects: one module per pair (no I/O, no clock, no randomness;
ids come in as arguments). `messages_chat`: Anthropic Messages <-> OpenAI Chat Completions."""
