"""The one error type for bad input: it names the offending setting, so the CLI can print one line."""


class ConfigError(ValueError):
    """Bad input. ``key`` is the dotted config key at fault; ``message`` says what is allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


class LoadError(ConfigError):
    """A file that cannot be loaded as what was expected (pickled code, text, truncated, wrong contents)."""

    def __init__(self, path, expected: str, reason: str):
        self.path = str(path)
        super().__init__(self.path, f"cannot load as {expected}: {reason}")
