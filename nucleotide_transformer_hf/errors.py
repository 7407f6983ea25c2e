"""The one exception type for a user's mistake (a bad file, a missing model folder, a refused pickle, no token).

Library functions raise `InputError` with a message that names the problem and the place (file and line, sequence
index, checkpoint key); the command line prints that message on one line and exits with status 2, without a
traceback. Any other exception is a bug and keeps its traceback. `InputError` is a `ValueError`, so code that caught
`ValueError` before still catches it.
"""


class InputError(ValueError):
    """A problem with the user's input, described in words that name the input and the place."""


__all__ = ["InputError"]
