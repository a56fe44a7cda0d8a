"""One module per ``vksnd`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args)``."""
