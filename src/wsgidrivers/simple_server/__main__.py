"""``python -m wsgidrivers.simple_server``."""

from ._cli import main

raise SystemExit(main())
