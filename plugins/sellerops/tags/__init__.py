"""Buyer tags: declarative rules, a safe compiler, manual tags, history.

* :mod:`sellerops.tags.rules` - the rules file (``include/tags.yaml``), validated by
  pydantic, with its JSON schema (``include/tags.schema.json``);
* :mod:`sellerops.tags.compiler` - rules to parameterised SQLAlchemy Core queries
  over whitelisted columns;
* :mod:`sellerops.tags.materialise` - ``marts.buyer_tags`` (with history),
  ``marts.buyer_tags_current`` and ``marts.tag_counts_daily``;
* :mod:`sellerops.tags.manual` - manual tags (``ops.manual_buyer_tags``);
* :mod:`sellerops.tags.profile` - one buyer's profile as text.

The names below are imported lazily so that ``import sellerops.tags`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "RulesError": "rules",
    "RulesFile": "rules",
    "TagRule": "rules",
    "load_rules": "rules",
    "parse_rules": "rules",
    "rules_json_schema": "rules",
    "write_json_schema": "rules",
    "CompileError": "compiler",
    "compile_tag": "compiler",
    "compile_rules": "compiler",
    "TagError": "materialise",
    "TagRunReport": "materialise",
    "materialise_tags": "materialise",
    "run_tags_task": "materialise",
    "ManualTagError": "manual",
    "add_manual_tag": "manual",
    "remove_manual_tag": "manual",
    "import_manual_tags_csv": "manual",
    "BuyerNotFound": "profile",
    "buyer_show": "profile",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sellerops.tags' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"sellerops.tags.{module}"), name)
