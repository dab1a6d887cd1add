"""Use cases shared by the API, the CLI and (later) the console: submit, balance, accounts, templates."""
