"""``python -m crawler`` runs the same CLI as the ``vksnd`` script."""

from crawler.cli import main

raise SystemExit(main())
