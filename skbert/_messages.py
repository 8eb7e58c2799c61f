"""How skbert words what it tells the user: warnings at the user's line, errors in brief.

A hand-counted ``stacklevel`` breaks whenever a call is moved one frame deeper, and differs
between calls at the same depth. :func:`warn` counts instead: it attributes the warning to
the first frame outside skbert and scikit-learn (whose wrappers, ``Pipeline`` and searches
call skbert on the user's behalf), which is the user's line calling ``fit``, ``transform``,
``score``, ``save`` or ``load``, or calling a scikit-learn object that called them.
:func:`first_line` sums up an exception that skbert reports inside its own message.
"""

from __future__ import annotations

import os
import sys
import warnings

_SKBERT = os.path.dirname(__file__) + os.sep


def _inside() -> tuple[str, ...]:
    """Folders of skbert and, once imported (it then has frames to skip), scikit-learn."""
    sklearn = sys.modules.get("sklearn")
    return (_SKBERT,) if sklearn is None else (_SKBERT, os.path.dirname(sklearn.__file__) + os.sep)


def user_stacklevel() -> int:
    """Return the ``stacklevel`` that points a caller's ``warnings.warn`` at the user's line."""
    inside = _inside()
    frame = sys._getframe(1)  # the function that asks
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue ``message`` as a ``category`` warning, attributed to the user's line."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


def first_line(exc: BaseException) -> str:
    """Sum up ``exc`` in one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
