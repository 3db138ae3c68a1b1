"""smal4v.evaluate."""
