"""Site profiles: selectors and URL patterns as data, one module per site, apart from the code."""
