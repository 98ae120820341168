"""`python -m ideamine_dagster.cli` runs the `ideamine` command."""

from ideamine_dagster.cli.app import main

main()
