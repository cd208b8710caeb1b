"""The BI tool and code host platform health talks to, built from environment variables when a
run needs them (definitions load with none set).

Locally, a BI tool whose variables are not set is read as no BI tool at all (dbt exposures are
then the only consumers, and the run says so), so ``make run`` needs no credentials in any
project; in branch deployments and production a missing variable fails the run.
"""

import os

import dagster as dg

from ...utils.environment import Environment, get_environment
from .lib.change_requests import CodeHost
from .lib.config import build_bi_adapter, build_code_host, dbt_path_in_repository
from .lib.model import BIAdapter, BINotConfiguredError, NoBIAdapter


class PlatformHealthResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    bi_tool: str
    """Where BI reports come from: none, superset or mode (defs.yaml's ``bi_tool``)."""
    ci_provider: str
    """github (pull requests) or gitlab (merge requests)."""

    def bi_adapter(self) -> tuple[BIAdapter, str | None]:
        """The BI tool's adapter, and why it was replaced by none (locally, unconfigured)."""
        try:
            return build_bi_adapter(self.bi_tool, os.environ), None
        except BINotConfiguredError as error:
            if get_environment() is not Environment.LOCAL:
                raise
            return NoBIAdapter(), f"{error}; locally, dbt exposures are the only consumers"

    def code_host(self) -> CodeHost | None:
        """None when the code host's token is not set: proposals are rendered, not sent."""
        return build_code_host(self.ci_provider, os.environ)

    def dbt_path_in_repository(self) -> str:
        return dbt_path_in_repository(os.environ)
