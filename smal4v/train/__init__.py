"""smal4v.train."""
