"""The one exception type a user should ever see.

Library code raises `UserError("what is wrong; what to do")` for anything caused by input
(files, configs, flags). The CLI prints it as a single line and exits with code 2; every other
exception is a bug and keeps its traceback (shown with --debug).
"""


class UserError(Exception):
    """Bad input. The message is one line: what is wrong, then what to do about it."""
