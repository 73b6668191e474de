"""How the CLI reports errors a user can act on."""

import sys

from studio.core.errors import UserError

#: Exceptions reported as one clear line instead of a traceback.
USER_ERRORS = (UserError, OSError)


def fail(exc: BaseException) -> int:
    print(f"studio: error: {exc}", file=sys.stderr)
    return 1
