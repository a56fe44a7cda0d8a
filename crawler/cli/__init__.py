"""cli: the ``vksnd`` entry point, the flags and helpers commands share, one module per command."""
