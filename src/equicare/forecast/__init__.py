"""equicare.forecast."""
