"""Platform health: the metapipeline curating the platform itself (docs/platform-health.md)."""
