"""``python -m equicare`` runs the command line."""

from equicare.cli import main

main()
