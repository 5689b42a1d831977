"""``python -m nabench`` is the ``nabench`` command."""

from nabench.cli import main

main()
