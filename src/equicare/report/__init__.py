"""equicare.report."""
