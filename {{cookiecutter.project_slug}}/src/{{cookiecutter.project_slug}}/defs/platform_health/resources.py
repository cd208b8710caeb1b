"""The BI tool and code host platform health talks to, built from environment variables when a
run needs them (definitions load with none set)."""

import os

import dagster as dg

from ... import settings
from ...platform_health.change_requests import CodeHost
from ...platform_health.config import build_bi_adapter, build_code_host, dbt_path_in_repository
from ...platform_health.model import BIAdapter


class PlatformHealthResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    bi_tool: str = settings.PLATFORM_HEALTH_BI_TOOL
    """Where BI reports come from: none, superset or mode (the project's answer by default)."""
    ci_provider: str = settings.CI_PROVIDER
    """github (pull requests) or gitlab (merge requests)."""

    def bi_adapter(self) -> BIAdapter:
        return build_bi_adapter(self.bi_tool, os.environ)

    def code_host(self) -> CodeHost | None:
        """None when the code host's token is not set: proposals are rendered, not sent."""
        return build_code_host(self.ci_provider, os.environ)

    def dbt_path_in_repository(self) -> str:
        return dbt_path_in_repository(os.environ)
