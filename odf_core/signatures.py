"""Factory-built functions that share one computed signature.

Dagster inspects an asset's or schedule's function about twenty times while building its
definition (``inspect.signature`` each time: context, config and resource arguments, inputs).
The registry's factories make one closure per source from the same code, so every closure has
the same signature; computing it once and setting it as the function's ``__signature__`` (PEP 362,
which ``inspect.signature`` returns as is) takes that cost off each further source.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import CodeType
from typing import TypeVar

F = TypeVar("F", bound=Callable)

_by_code: dict[CodeType, inspect.Signature] = {}


def shared_signature(fn: F) -> F:
    """``fn`` with ``__signature__`` set to the signature of every function built from its code.

    Only for closures whose annotations and defaults do not vary between instances (a factory's
    inner function with module-level annotations and no defaults computed per call)."""
    signature = _by_code.get(fn.__code__)
    if signature is None or fn.__defaults__ or fn.__kwdefaults__:
        signature = inspect.signature(fn)
        if not (fn.__defaults__ or fn.__kwdefaults__):
            _by_code[fn.__code__] = signature
    fn.__signature__ = signature
    return fn
