"""One module per ``vksnd`` subcommand.

Each exposes ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""
