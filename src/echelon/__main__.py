"""``python -m echelon …`` runs the ``echelon`` command (for environments without the script)."""

from echelon.cli import main

if __name__ == "__main__":
    main()
