"""Open datasets declared in the source registry, and their declarative aggregates."""
