"""Keyword tables, one per section type; docs/KEYWORDS.md is generated from them (docgen)."""
