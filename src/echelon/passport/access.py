"""Views of a passport for the Annex XIII access groups (catalogue ``passport``, ``[access]``)."""

from __future__ import annotations

from typing import Any, Literal

from echelon.passport.catalog import PassportCatalog

Access = Literal["full", "legitimate-interest", "public"]
ACCESS: tuple[Access, ...] = ("full", "legitimate-interest", "public")
WITHHELD_FROM: dict[Access, tuple[str, ...]] = {
    "full": (),
    "legitimate-interest": ("authorities",),
    "public": ("authorities", "legitimate_interest", "legitimate_interest_and_commission"),
}
"""Access groups whose members each view withholds."""


def _drop(node: Any, members: list[str]) -> bool:
    """Delete the member path from ``node`` (``x[]`` walks every item of list ``x``)."""
    if not members or not isinstance(node, dict):
        return False
    head, rest = members[0], members[1:]
    name = head.removesuffix("[]")
    if name not in node:
        return False
    if not rest:
        del node[name]
        return True
    children = node[name] if head.endswith("[]") else [node[name]]
    dropped = [_drop(child, rest) for child in (children if isinstance(children, list) else [])]
    return any(dropped)


def withheld(access: Access, catalog: PassportCatalog) -> set[str]:
    """Every member path the ``access`` view withholds, whether a passport has the member or not
    (an incomplete section is not exported, but its withheld members stay withheld elsewhere,
    e.g. the status in ``passportMetadata``)."""
    return {path for group in WITHHELD_FROM[access] for path in catalog.access.get(group, [])}  # type: ignore[call-overload]


def restrict(sections: dict[str, Any], access: Access, catalog: PassportCatalog) -> list[str]:
    """Remove, in place, the members ``access`` may not read; returns their paths."""
    dropped = []
    for group in WITHHELD_FROM[access]:
        for path in catalog.access.get(group, []):  # type: ignore[call-overload]
            section, *members = path.split(".")
            if _drop(sections.get(section), members):
                dropped.append(path)
    return sorted(dropped)
