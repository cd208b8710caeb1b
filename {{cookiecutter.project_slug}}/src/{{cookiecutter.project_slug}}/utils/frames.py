"""``DataFrame`` for asset signatures, without importing pandas when the definitions load.

Dagster evaluates every asset's annotations when its definitions load, and pandas (with numpy
and pyarrow) is the largest import the project has: about half a second of each
``dagster definitions validate``, ``dg check defs``, ``make dev`` and ``make run`` start
(docs/benchmarks.md of the template). Type checkers see pandas' ``DataFrame``; at run time the
name is ``Any``, so Dagster stores whatever frame an asset returns and loads each input as the
I/O manager's default type, a pandas ``DataFrame``. Modules that need pandas itself import it
inside the functions that run, or only for type checking.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pandas import DataFrame
else:
    DataFrame = Any

__all__ = ["DataFrame"]
