"""How important is each node? Degree, in/out-degree, closeness, betweenness and PageRank.

Computed on the whole platform graph, so a model that feeds many dashboards ranks above one
that feeds one, whatever the dbt DAG alone says. Closeness and PageRank use the graph with its
edges reversed (from each reader to what it reads): importance flows to what is read, so a
staging model everything depends on ranks high, and closeness measures how near a node is to
the consumers depending on it. Degrees and betweenness do not depend on the direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    import pandas as pd

IMPORTANCE_COLUMNS = [
    "node_id",
    "tool",
    "kind",
    "name",
    "degree",
    "in_degree",
    "out_degree",
    "closeness",
    "betweenness",
    "pagerank",
    "pagerank_rank",
]


def importance_frame(graph: nx.DiGraph[str]) -> pd.DataFrame:
    """One row per node, highest PageRank first (ties by node id)."""
    import pandas as pd  # at run time only (utils/frames.py)

    if graph.number_of_nodes() == 0:
        return pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    readers_to_read = graph.reverse(copy=False)
    closeness = nx.closeness_centrality(readers_to_read)
    betweenness = nx.betweenness_centrality(graph, normalized=True)
    pagerank = nx.pagerank(readers_to_read)
    rows = [
        {
            "node_id": node,
            "tool": data["tool"],
            "kind": data["kind"],
            "name": data.get("name"),
            "degree": graph.degree(node),
            "in_degree": graph.in_degree(node),
            "out_degree": graph.out_degree(node),
            "closeness": round(float(closeness[node]), 6),
            "betweenness": round(float(betweenness[node]), 6),
            "pagerank": round(float(pagerank[node]), 6),
        }
        for node, data in graph.nodes(data=True)
    ]
    frame = pd.DataFrame(rows).sort_values(["pagerank", "node_id"], ascending=[False, True])
    frame["pagerank_rank"] = range(1, len(frame) + 1)
    return frame.reset_index(drop=True)[IMPORTANCE_COLUMNS]
