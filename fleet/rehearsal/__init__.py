"""Campaign rehearsal (``fleet rehearse``): a seeded campaign run end to end through the public
CLI and API. See ``docs/rehearsal.md``."""
