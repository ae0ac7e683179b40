"""Pure renderers: data in, text or JSON-ready data out."""
