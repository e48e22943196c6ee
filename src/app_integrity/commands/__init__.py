"""One module per ``app-integrity`` command, each exposing the function ``cli.py`` registers."""
