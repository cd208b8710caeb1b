"""Code versions that see macros: a dbt node's version covers its SQL and every macro it uses.

dagster-dbt versions a model by the hash of its raw SQL alone, so editing a macro the model
calls leaves its code version unchanged and "rebuild what changed" misses it (dagster#22566).
Here a node's version also covers the SQL of every macro in its manifest ``depends_on.macros``,
followed transitively through the macros' own ``depends_on``: the project's macros and those of
installed dbt packages (``dbt_packages/``) alike.

Rules (documented in docs/automation.md):

- dbt's built-in macros (packages ``dbt`` and the adapter's own, e.g. ``dbt_duckdb``,
  ``dbt_snowflake``) do not count themselves: they change only with the installed dbt version,
  and the adapter's differ between DuckDB and Snowflake, which would give the same code a
  different version per warehouse. What they call is still followed: a project macro overriding
  a dispatched dbt macro (``duckdb__dateadd`` in the project, say) counts for every model calling
  ``dbt.dateadd``.
- Dispatch: when a node or macro depends on ``<adapter>__name`` of a project or package macro,
  every implementation of ``name`` in that package counts (``default__name``,
  ``snowflake__name``, ``duckdb__name``...). The manifest is parsed with the DuckDB target, yet a
  change to the Snowflake implementation must change production's versions.
- A node that depends on no counted macro keeps dagster-dbt's own version (the hash of its raw
  SQL, else dbt's checksum), so adopting this changes no version of a macro-free model.

Everything derived from the macros is computed once per manifest; per node it is one set lookup
and one hash, so a 10,000-model project pays almost nothing (benchmarks/translator_overhead.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dagster_dbt.asset_utils import default_code_version_fn

# dbt-core's own macros; the adapter's package is added from the manifest's adapter_type, and
# these cover adapters whose macros build on another adapter's (dbt-redshift on dbt-postgres).
BUILTIN_MACRO_PACKAGES = frozenset(
    {"dbt", "dbt_postgres", "dbt_snowflake", "dbt_duckdb", "dbt_bigquery", "dbt_redshift"}
)
# ``<adapter>__<name>``: an adapter-specific implementation of a dispatched macro.
_DISPATCHED = re.compile(r"^([a-z0-9]+)__(.+)$")


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class MacroAwareCodeVersions:
    """Code versions for the nodes of one manifest (build once per manifest, then ask per node)."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        adapter = str((manifest.get("metadata") or {}).get("adapter_type") or "")
        builtin = BUILTIN_MACRO_PACKAGES | {f"dbt_{adapter}"}
        macros: Mapping[str, Mapping[str, Any]] = manifest.get("macros") or {}
        self._own: dict[str, str] = {
            unique_id: _sha1(f"{unique_id}\n{macro.get('macro_sql') or ''}")
            for unique_id, macro in macros.items()
            if macro.get("package_name") not in builtin
        }
        # (package, name after "<adapter>__") -> every implementation of that dispatched macro.
        implementations: dict[tuple[str, str], list[str]] = {}
        for unique_id in self._own:
            macro = macros[unique_id]
            dispatched = _DISPATCHED.match(str(macro.get("name") or ""))
            if dispatched:
                key = (str(macro.get("package_name")), dispatched.group(2))
                implementations.setdefault(key, []).append(unique_id)
        self._siblings: dict[str, tuple[str, ...]] = {
            unique_id: tuple(group) for group in implementations.values() for unique_id in group
        }
        # Every macro's dependencies, built-in ones included (followed, not hashed).
        self._edges: dict[str, tuple[str, ...]] = {
            unique_id: self._followed((macro.get("depends_on") or {}).get("macros"))
            for unique_id, macro in macros.items()
        }
        self._closures: dict[str, frozenset[str]] = {}
        self._digests: dict[tuple[str, ...], str | None] = {}
        self._node_digests: dict[tuple[str, ...], str | None] = {}

    def _followed(self, macro_ids: Iterable[str] | None) -> tuple[str, ...]:
        """The macros among ``macro_ids`` the manifest has, with every implementation of a
        dispatched project or package macro; sorted and without duplicates."""
        followed: set[str] = set()
        for unique_id in macro_ids or ():
            followed.update(self._siblings.get(unique_id, (unique_id,)))
        return tuple(sorted(followed))

    def _closure(self, unique_id: str) -> frozenset[str]:
        """The macro and every macro it reaches (macros may call each other in cycles)."""
        found = self._closures.get(unique_id)
        if found is None:
            seen = {unique_id}
            stack = [unique_id]
            while stack:
                for child in self._edges.get(stack.pop(), ()):
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
            found = self._closures[unique_id] = frozenset(seen)
        return found

    def macros_digest(self, direct: tuple[str, ...]) -> str | None:
        """One hash over every counted macro reachable from ``direct``; None when there is none.
        Nodes calling the same macros share the work."""
        if direct not in self._digests:
            counted = sorted(self._reached(direct) & self._own.keys())
            self._digests[direct] = (
                _sha1("\n".join(self._own[unique_id] for unique_id in counted)) if counted else None
            )
        return self._digests[direct]

    def _reached(self, direct: Iterable[str]) -> set[str]:
        reached: set[str] = set()
        for unique_id in direct:
            reached |= self._closure(unique_id)
        return reached

    def macros_of(self, props: Mapping[str, Any]) -> frozenset[str]:
        """unique_id of every counted macro a node depends on, transitively (for docs/tests)."""
        direct = self._followed((props.get("depends_on") or {}).get("macros"))
        return frozenset(self._reached(direct) & self._own.keys())

    def code_version(self, props: Mapping[str, Any]) -> str | None:
        """dagster-dbt's version of the node, combined with its macros' digest if it has any."""
        own = default_code_version_fn(props)
        direct = tuple((props.get("depends_on") or {}).get("macros") or ())
        if direct not in self._node_digests:  # most nodes share their few macros
            self._node_digests[direct] = self.macros_digest(self._followed(direct))
        digest = self._node_digests[direct]
        if digest is None:
            return own
        return _sha1(f"{own or ''}\n{digest}")
