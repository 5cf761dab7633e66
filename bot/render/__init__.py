"""Pure Block Kit builders: state in, dicts out. No I/O here."""
