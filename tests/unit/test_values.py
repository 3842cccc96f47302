"""The value classes that replaced dataclasses compare, hash and print as the dataclasses did."""

from __future__ import annotations

import copy
import pickle

import pytest

from pybuild.builder.sandbox.resources import Device, Resources, Ulimit, parse_resources
from pybuild.builder.sandbox.security import SecurityOptions


def test_equal_values_are_one_in_a_set_and_print_their_fields() -> None:
    assert Ulimit("nofile", 1, 2) == Ulimit("nofile", 1, 2) != Ulimit("nofile", 1, 3)
    assert len({Ulimit("nofile", 1, 2), Ulimit("nofile", 1, 2), Ulimit("nproc", 1, 2)}) == 2
    assert repr(SecurityOptions()) == "SecurityOptions(seccomp='default', no_new_privileges=False)"
    assert Device("/dev/fuse", "/dev/fuse") != Ulimit("nofile", 1, 2)


def test_resources_compare_by_value_are_unhashable_and_survive_copies() -> None:
    parsed = parse_resources(memory="1g", ulimits=["nofile=10:20"])
    assert parsed == Resources(memory=1 << 30, ulimits=[Ulimit("nofile", 10, 20)])
    assert copy.deepcopy(parsed) == pickle.loads(pickle.dumps(parsed)) == parsed
    assert Resources().ulimits is not Resources().ulimits
    with pytest.raises(TypeError):
        hash(parsed)
