"""The one error type for bad input: it names the offending setting, so the CLI can print one line."""


class ConfigError(ValueError):
    """Bad input. ``key`` is the dotted config key at fault; ``message`` says what is allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")
