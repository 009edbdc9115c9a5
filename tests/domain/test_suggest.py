"""The "did you mean" hint of misspelt choices."""

from __future__ import annotations

import pytest

from echelon.domain import Chemistry
from echelon.domain.parse import parse_choice, suggest


def test_every_equally_close_choice_is_named() -> None:
    """``LFO`` said *did you mean 'LMO'?* although LFP (and LCO) are as close."""
    with pytest.raises(ValueError, match="unknown") as info:
        parse_choice(Chemistry, "LFO")
    assert "did you mean 'LFP', 'LMO' or 'LCO'?" in str(info.value)


def test_one_closest_choice_is_named_alone() -> None:
    assert suggest("ups2", ["ups", "ess"]) == " (did you mean 'ups'?)"
    assert suggest("lfp", ["LFP", "LMO"]) == " (did you mean 'LFP'?)"
    assert suggest("zzz", ["ups", "ess"]) == ""
