"""``python -m lamina`` runs the CLI."""

from lamina.cli import main

if __name__ == "__main__":  # not when a spawned worker process (lamina serve's) imports this module again
    main()
