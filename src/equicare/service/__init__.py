"""equicare.service."""
