#!/usr/bin/env python3
"""Django's command-line utility for the EchoPilot Ops Console."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except BrokenPipeError:
        # The reader stopped early (`manage.py dashkey list | head -1`): end quietly, not with a
        # traceback. Python flushes stdout again on exit: point it at /dev/null so that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
