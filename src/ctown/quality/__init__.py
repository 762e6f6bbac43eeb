"""Data-quality figures (三率): collection completeness, update timeliness, system stability."""
