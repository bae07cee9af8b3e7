"""An import-linter contract: features reach each other through their public modules only.

A feature package (``imghost.quotas``) keeps its tables, routes and helpers to
itself; another feature may import its ``services`` (what it does) and
``schemas`` (the shapes it speaks). The composition root (``imghost.app``,
``imghost.cli`` ...) may import anything: assembling features is its job.
Imports that break the rule for a reason are listed in ``ignore_imports`` of
the contract in pyproject.toml, each with that reason beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils


class PublicApiContract(Contract):
    type_name = "public_api"

    features = fields.ListField(subfield=fields.ModuleField())
    public = fields.ListField(subfield=fields.StringField())
    # Modules of a feature that every other feature may use too, each for a
    # reason written beside it in the configuration (the access policy, say).
    shared_modules = fields.ListField(subfield=fields.ModuleField(), required=False)
    allowed_importers = fields.ListField(subfield=fields.ModuleField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=contract_utils.AlertLevel.ERROR,
        )
        features = _names(self.features)
        public = {str(p) for p in _values(self.public)}
        root = _names(self.allowed_importers)
        shared = _names(self.shared_modules)
        broken: list[dict[str, Any]] = []
        for feature in features:
            for imported in sorted(graph.find_descendants(feature)):
                part = imported[len(feature) + 1 :].split(".")[0]
                if part in public or any(_within(imported, m) for m in shared):
                    continue
                for importer in sorted(graph.find_modules_that_directly_import(imported)):
                    if _within(importer, feature) or any(_within(importer, r) for r in root):
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    broken.append(
                        {
                            "importer": importer,
                            "imported": imported,
                            "lines": [d["line_number"] for d in details],
                        }
                    )
        return ContractCheck(
            kept=not broken,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"broken": broken},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            lines = ", ".join(str(n) for n in item["lines"])
            output.print_error(
                f"{item['importer']} -> {item['imported']} (l. {lines}): not a public module "
                f"({', '.join(str(p) for p in _values(self.public))}) of that feature"
            )
            output.new_line()


def _values(field: object) -> list[Any]:
    """A field's parsed value (the class attribute is the field; the instance's is its value)."""
    return list(cast(Iterable[Any], field or []))


def _names(field: object) -> list[str]:
    return [str(module.name) for module in _values(field)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")
