"""Closures from one factory share one computed signature, which is the one Python computes."""

from __future__ import annotations

import inspect

from odf_core.signatures import shared_signature


def make(label: str):
    @shared_signature
    def step(context, limit: int, *, label_length: int) -> str:
        return f"{label}:{limit}:{label_length}"

    return step


def make_with_default(default: int):
    @shared_signature
    def step(value: int = default) -> int:
        return value

    return step


def test_closures_of_one_factory_share_the_signature_python_computes():
    first, second = make("a"), make("b")
    assert first.__signature__ is second.__signature__
    del second.__signature__
    assert inspect.signature(first) == inspect.signature(second)
    assert first("ctx", 3, label_length=1) == "a:3:1"


def test_defaults_that_vary_per_closure_are_not_shared():
    one, two = make_with_default(1), make_with_default(2)
    assert one.__signature__ is not two.__signature__
    assert inspect.signature(one).parameters["value"].default == 1
    assert inspect.signature(two).parameters["value"].default == 2
