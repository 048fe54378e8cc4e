"""equicare.data."""
