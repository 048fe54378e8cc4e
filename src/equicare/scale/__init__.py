"""equicare.scale: heavy work on a Dask cluster (scenario sweeps, access by chunks)."""
