"""equicare.privacy."""
