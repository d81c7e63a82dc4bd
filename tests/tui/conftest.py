"""The TUI tests need the Textual test tools; the snapshot plugin comes from pytest-textual-snapshot."""
