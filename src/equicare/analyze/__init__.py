"""equicare.analyze."""
