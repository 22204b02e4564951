"""User-facing errors: the CLI prints these as one line, without a traceback."""


class NlpkitError(Exception):
    """A problem with the user's input, data or configuration."""


class DataError(NlpkitError):
    """A malformed input record; the message names file, line and field."""

    def __init__(self, path, line, message, field=None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        if field:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field = path, line, field
