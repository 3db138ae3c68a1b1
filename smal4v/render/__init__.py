"""smal4v.render."""
