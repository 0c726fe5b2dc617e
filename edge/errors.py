"""The errors edge raises on purpose. Pure."""


class EdgeError(Exception):
    """Base for errors this package raises on purpose."""


class ConfigError(EdgeError):
    """The configuration file is missing, unreadable or invalid (CLI exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StreamError(EdgeError):
    """A camera stream could not be opened or read; the message is for people."""


class StorageError(EdgeError):
    """The data disk or the index cannot be used."""


class ProtocolError(EdgeError):
    """A peer sent something we cannot accept (SIP, MANSCDP, SDP). Runners log it and carry on."""
