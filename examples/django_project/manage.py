"""Run the example Django project: ``.venv/bin/python examples/django_project/manage.py runserver 8003``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The repository root, so that ``examples.django_project`` imports from any working directory.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
