"""The one exception type that means "the user asked for something that cannot be done"."""


class RnnkitError(Exception):
    """A user-facing error: the command line prints its message on one line and exits with 2.

    Raise it (or a subclass) for bad input, missing files, bad flag values and the like; let
    anything else propagate, since that is a bug and deserves its traceback.
    """
