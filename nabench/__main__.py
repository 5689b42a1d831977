"""``python -m nabench`` is the ``nabench`` command."""

from nabench.cli import main

if __name__ == "__main__":
    main()
