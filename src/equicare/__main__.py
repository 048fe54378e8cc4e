"""``python -m equicare`` runs the command line."""

from equicare.cli import run

if __name__ == "__main__":  # worker processes (spawn) import this module as __mp_main__: they must not run the CLI
    run()
