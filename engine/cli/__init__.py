"""The ``framewise`` command line: `engine.cli.main.main` parses and dispatches to the command modules."""
