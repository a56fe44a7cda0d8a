"""Site profiles: everything vksnd knows of a site, as TOML data (``*.toml`` here are the
built-ins), loaded into the records of ``model`` by ``load`` (see ``model``'s docstring)."""
