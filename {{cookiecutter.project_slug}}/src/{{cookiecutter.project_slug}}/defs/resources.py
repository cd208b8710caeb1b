import dagster as dg

from ..resources import build_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
