"""The chart's offline verification needs helm and the CRD schemas in var/tools."""

from __future__ import annotations

import pytest

from tests.deploy.chart import CRDS, HELM


@pytest.fixture(scope="session", autouse=True)
def deploy_tools() -> None:
    """Fails (never skips) when the tools are missing: they are part of the test."""
    if not HELM.exists() or not (CRDS / "strimzi" / "kafka.yaml").exists():
        pytest.fail(f"{HELM} or the CRDs in {CRDS} are missing: run deploy/helm/tools.sh "
                    "(make test and make test-deploy do)")
