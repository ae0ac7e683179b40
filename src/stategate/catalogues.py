"""Bundled data catalogues, read from the package and validated (the I/O edge of
the pure rules that use them)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from pydantic import ValidationError

from stategate.errors import InputError
from stategate.policy.hazards import RULES, Catalogue
from stategate.yamlfile import loads, to_plain

HAZARDS = "stategate/data/hazards.yaml"


@cache
def hazard_catalogue() -> Catalogue:
    """The known image hazards (``data/hazards.yaml``); every entry's rule must exist."""
    text = (resources.files("stategate") / "data" / "hazards.yaml").read_text(encoding="utf-8")
    try:
        catalogue = Catalogue.model_validate(to_plain(loads(text, HAZARDS)))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"invalid hazard catalogue: {where}: {err['msg']}", file=HAZARDS) from exc
    unknown = [h.id for h in catalogue.hazards if h.rule not in RULES]
    if unknown:
        raise InputError(f"hazards with no rule: {', '.join(unknown)}", file=HAZARDS)
    return catalogue
