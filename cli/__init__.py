"""The `returnflow` command line: a thin entry point over the packages."""
