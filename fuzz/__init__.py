"""Coverage-guided fuzzing of every parser with atheris (``pip install -e '.[fuzz]'``); see fuzz/README.md."""
