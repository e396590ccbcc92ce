"""The one exception type for bad user input.

The command-line entry points catch :class:`MotionlabError` and print its
message (no traceback), so raise it whenever the cause is something the user
can fix: a missing file, a malformed array, an inconsistent option.
"""


class MotionlabError(Exception):
    """Bad input from the user; the message names the file/option, what was expected and what was found."""
