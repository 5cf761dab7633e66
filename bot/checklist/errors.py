from __future__ import annotations


class TemplateError(ValueError):
    """A template that cannot be used; names the file and line so the author can fix it."""

    def __init__(self, message: str, *, path: str = "<template>", line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class TemplateNotFound(TemplateError):
    """No template has the name asked for; `message` lists the ones there are."""
