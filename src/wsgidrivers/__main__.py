"""``python -m wsgidrivers``: the ``wsgicore`` command line."""

from ._cli import main

raise SystemExit(main(prog="python -m wsgidrivers"))
