"""Lets the `piccolo` command line find the project's configuration when run from the repository."""

from core.piccolo_conf import *  # noqa: F403
