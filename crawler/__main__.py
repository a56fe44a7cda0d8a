"""``python -m vksnd.crawler`` runs the same CLI as the ``vksnd`` script."""

from vksnd.crawler.cli.main import main

raise SystemExit(main())
