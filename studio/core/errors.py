"""Errors whose message is meant for the user, in the UI and on the command line."""


class UserError(Exception):
    """Something the user can act on; its message says what happened and what to do."""

    def __str__(self) -> str:  # KeyError subclasses would otherwise quote the message
        return str(self.args[0]) if self.args else self.__class__.__name__
