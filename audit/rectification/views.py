"""Views of the rectification workflow (being written)."""
