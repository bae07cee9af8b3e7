"""The `imghost` command line."""
