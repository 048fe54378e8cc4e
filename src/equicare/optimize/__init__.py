"""equicare.optimize."""
