"""helm lint and helm template for every values file, and every rendered object validated
against the Kubernetes schemas (kubernetes-validate) or its custom resource's CRD schema
(Strimzi's, the Prometheus Operator's)."""

from __future__ import annotations

import functools

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy import counts
from tests.deploy.chart import (
    CHART,
    KUBE_VERSION,
    TEST_SECRETS,
    VALUES,
    HelmError,
    crd_schemas,
    helm,
    of_kind,
    rendered,
    rendered_text,
    template,
    template_text,
)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_helm_lint_passes_strictly(name):
    args = ["lint", "--strict", str(CHART), "-f", str(TEST_SECRETS)]
    for f in VALUES[name]:
        args += ["-f", str(f)]
    out = helm(*args)
    assert "0 chart(s) failed" in out


@functools.cache
def crd_validator(api_version: str, kind: str):
    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    spec = schema["properties"]["spec"]
    return jsonschema.validators.validator_for(spec)(spec)


def validate(obj) -> None:
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    if validator is not None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj.get("spec", {})))
        if error is not None:
            raise error
        return
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_rendered_object_matches_its_schema(name):
    objects = rendered(name)
    assert objects
    for obj in objects:
        try:
            validate(obj)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError) as exc:
            pytest.fail(f"{name}: {obj['kind']} {obj['metadata']['name']}: {exc}")


def test_the_crd_schemas_are_strimzi_v1_and_prometheus_operator():
    kinds = set(crd_schemas())
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"):
        assert ("kafka.strimzi.io/v1", kind) in kinds
    assert ("monitoring.coreos.com/v1", "ServiceMonitor") in kinds
    assert ("monitoring.coreos.com/v1", "PodMonitor") in kinds


def test_a_wrong_custom_resource_is_rejected_by_its_schema():
    """The CRD check has teeth: a KafkaUser ACL with an unknown operation fails."""
    user = dict(of_kind(rendered("default"), "KafkaUser")[0])
    bad = {**user, "spec": {**user["spec"], "authorization": {
        "type": "simple", "acls": [{"resource": {"type": "topic", "name": "x"},
                                    "operations": ["Fly"]}]}}}
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    node_pool = of_kind(rendered("default"), "KafkaNodePool")[0]
    with pytest.raises(jsonschema.ValidationError):
        validate({**node_pool, "spec": {**node_pool["spec"], "roles": ["zookeeper"]}})


def test_a_wrong_kubernetes_object_is_rejected():
    deployment = of_kind(rendered("default"), "Deployment")[0]
    bad = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(bad)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_rendering_is_stable(name):
    """Same values, same manifests: nothing random or time-dependent in the chart."""
    assert rendered_text(name) == template_text(VALUES[name])


def test_production_values_run_three_brokers_three_controllers_and_three_mongo_members():
    for name in ("ninhbinh", "national"):
        objects = rendered(name)
        pools = {p["metadata"]["name"]: p["spec"] for p in of_kind(objects, "KafkaNodePool")}
        assert pools["brokers"]["replicas"] == 3 and pools["brokers"]["roles"] == ["broker"]
        assert pools["controllers"]["replicas"] == 3
        assert pools["controllers"]["roles"] == ["controller"]
        (kafka,) = of_kind(objects, "Kafka")
        assert "zookeeper" not in kafka["spec"]
        assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
        (mongo,) = of_kind(objects, "StatefulSet")
        assert mongo["spec"]["replicas"] == 3
        assert "--replSet" in mongo["spec"]["template"]["spec"]["containers"][0]["command"]


def test_missing_secret_values_stop_the_rendering():
    with pytest.raises(HelmError, match=r"secrets\.pii\.keys"):
        template(VALUES["ninhbinh"], secrets=False)


def test_counts_table_lists_every_kind_per_values_file(capsys):
    counts.main()
    table = capsys.readouterr().out
    assert "| KafkaUser | 4 | 17 | 276 |" in table  # 4 services + 0, 13 and 272 agencies
