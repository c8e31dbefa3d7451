"""Domain rules. Services take keyword-only arguments, flush, and never commit."""
