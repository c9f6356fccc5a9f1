"""``python -m mentra_cli``: the same entry as the ``mentra`` console script."""

from mentra_cli.entry import main

main()
