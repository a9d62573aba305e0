"""The chart against the operator it installs, without a cluster: `helm template` and the code.

These fail when the operator and its chart drift apart: a webhook handler without a webhook, a
space role the chart ships differently from what the operator binds, a value that does not reach
the operator's configuration.
"""

from __future__ import annotations

import base64
import filecmp
import ipaddress
import json
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tds_operator.config import OperatorConfig
from tds_operator.desired.admission import space_admission_policies
from tds_operator.desired.rbac import space_roles
from tds_operator.policy.rules import HubRules
from tds_operator.process.main import operator_registry
from tds_operator.process.signing_key import CHECKPOINT_KEY_SECRET, SIGNING_KEY_SECRET
from tests.e2e.cluster import (
    CHART,
    NAMESPACE,
    REPO_ROOT,
    CommandError,
    Manifest,
    find,
    fullname,
    helm_binary,
    operator_rules,
    render_chart,
    run,
)

pytestmark = pytest.mark.e2e

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def container(objects: list[Manifest], name: str = "operator") -> Manifest:
    """The Deployment's container `name`: `operator` (reconciles) or `webhooks`."""
    deployment = find(objects, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    found: Manifest = next(c for c in containers if c["name"] == name)
    return found


def environment(objects: list[Manifest], name: str = "operator") -> dict[str, str]:
    """A container's plain environment (not what the kubelet fills in, such as the pod's name)."""
    return {e["name"]: e["value"] for e in container(objects, name)["env"] if "value" in e}


def test_the_charts_crds_are_the_generated_ones() -> None:
    names = sorted(p.name for p in (REPO_ROOT / "crds").glob("*.yaml"))
    assert names == sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    _, mismatch, errors = filecmp.cmpfiles(REPO_ROOT / "crds", CHART / "crds", names, False)
    assert not mismatch, f"copy crds/ to {CHART / 'crds'}: {mismatch}"
    assert not errors


def test_every_object_has_the_recommended_labels_and_its_namespace() -> None:
    for obj in render_chart({"metrics.serviceMonitor.enabled": "true"}):
        labels = obj["metadata"].get("labels") or {}
        missing = [label for label in RECOMMENDED_LABELS if label not in labels]
        assert not missing, f"{obj['kind']} {obj['metadata']['name']} lacks {missing}"
        cluster_scoped = obj["kind"].startswith(("Cluster", "Mutating", "Validating"))
        assert cluster_scoped or obj["metadata"].get("namespace") == NAMESPACE


def test_alerts_and_dashboard_are_off_by_default() -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in render_chart()}
    assert ("ConfigMap", f"{fullname()}-dashboard") not in kinds
    assert "PrometheusRule" not in {kind for kind, _ in kinds}


def test_the_prometheus_rule_needs_where_the_runbooks_are() -> None:
    with pytest.raises(CommandError, match=r"metrics\.prometheusRule\.runbookBaseURL: set it"):
        render_chart({"metrics.prometheusRule.enabled": "true"})
    with pytest.raises(CommandError, match="runbookBaseURL"):
        render_chart(
            {
                "metrics.prometheusRule.enabled": "true",
                "metrics.prometheusRule.runbookBaseURL": "docs/",
            }
        )


def test_the_prometheus_rule_and_dashboard_are_the_repositorys_files() -> None:
    """What promtool tests and what the dashboard test validates is exactly what is installed."""
    objects = render_chart(
        {
            "metrics.prometheusRule.enabled": "true",
            "metrics.prometheusRule.labels.release": "monitoring",
            "metrics.prometheusRule.runbookBaseURL": "https://docs.example.org/tds",
            "metrics.dashboard.enabled": "true",
            "metrics.serviceMonitor.enabled": "true",
        }
    )
    rule = find(objects, "PrometheusRule", fullname())
    assert rule["metadata"]["labels"]["release"] == "monitoring"
    rules_file = CHART / "rules" / "tds-operator.rules.yaml"
    shipped = rules_file.read_text().replace(
        "https://tds-docs.invalid", "https://docs.example.org/tds"
    )
    assert rule["spec"] == yaml.safe_load(shipped)
    runbooks = [
        alert["annotations"]["runbook_url"]
        for group in rule["spec"]["groups"]
        for alert in group["rules"]
    ]
    assert runbooks
    assert all(
        url.startswith("https://docs.example.org/tds/operations/runbooks/#") for url in runbooks
    )
    dashboard = find(objects, "ConfigMap", f"{fullname()}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dashboard["data"]["tds-operator.json"])
    assert board == json.loads((CHART / "dashboards" / "tds-operator.json").read_text())
    # Both containers' metrics (the controller's, the webhook server's), under the job name the
    # alerting rules select.
    endpoints = find(objects, "ServiceMonitor", fullname())["spec"]["endpoints"]
    assert [e["port"] for e in endpoints] == ["metrics", "webhook-metrics"]
    for endpoint in endpoints:
        relabel = {"action": "replace", "targetLabel": "job", "replacement": "tds-operator"}
        assert relabel in endpoint["relabelings"], endpoint


def test_metrics_may_be_narrowed_to_prometheus_alone() -> None:
    """The metrics name every contract and space: who may scrape them is the platform's choice,
    while the webhook and health ports stay open to the API server and kubelet."""
    monitoring = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    objects = render_chart(values_file={"networkPolicy": {"metricsFrom": [monitoring]}})
    ingress = find(objects, "NetworkPolicy", fullname())["spec"]["ingress"]
    by_port = {port["port"]: rule.get("from") for rule in ingress for port in rule["ports"]}
    assert by_port == {
        "webhook": None,
        "health": None,
        "webhook-health": None,
        "metrics": [monitoring],
        "webhook-metrics": [monitoring],
    }
    default = find(render_chart(), "NetworkPolicy", fullname())["spec"]["ingress"]
    assert all("from" not in rule for rule in default)


def test_the_webhooks_are_exactly_the_operators_admission_handlers() -> None:
    """Every kopf admission handler has a webhook at the path of its id, and nothing else."""
    handlers = {
        (
            handler.reason.value,
            f"/{handler.id}",
            handler.selector.group,
            handler.selector.version,
            handler.selector.any_name,
            tuple(sorted(handler.operations or [])),
        )
        for handler in operator_registry()._webhooks.get_all_handlers()
    }
    objects = render_chart()
    webhooks = set()
    for kind, reason in (
        ("MutatingWebhookConfiguration", "mutating"),
        ("ValidatingWebhookConfiguration", "validating"),
    ):
        for hook in find(objects, kind)["webhooks"]:
            (rule,) = hook["rules"]
            webhooks.add(
                (
                    reason,
                    hook["clientConfig"]["service"]["path"],
                    *rule["apiGroups"],
                    *rule["apiVersions"],
                    *rule["resources"],
                    tuple(sorted(rule["operations"])),
                )
            )
            assert hook["sideEffects"] == "None"
            assert hook["failurePolicy"] == "Fail"
    assert webhooks == handlers


def test_the_space_roles_are_what_the_operator_binds() -> None:
    """The operator finds the chart's roles granting exactly what it binds, and writes nothing."""
    objects = render_chart()
    for role in space_roles():
        name = role["metadata"]["name"]
        shipped = find(objects, "ClusterRole", name)
        assert shipped["rules"] == role["rules"], (
            f"ClusterRole {name} in charts/tds-operator/templates/space-roles.yaml must have "
            f"these rules:\n{yaml.safe_dump(role['rules'], default_flow_style=None)}"
        )


OTHER_GPU_POOL = {
    "gpuNodeSelector": {"zone": "east", "hub.tds.io/pool": "h100"},
    "gpuTolerationKey": "gpu.example.com/dedicated",
}


@pytest.mark.parametrize("hub_rules", [{}, OTHER_GPU_POOL], ids=["default", "other-gpu-pool"])
def test_the_space_policies_are_what_the_operator_expects(hub_rules: Manifest) -> None:
    """For the hub rules the chart gives the operator, it finds the policies it would make."""
    objects = render_chart(values_file={"hubRules": hub_rules} if hub_rules else None)
    rules = OperatorConfig.from_environment(environment(objects)).hub_rules
    if hub_rules:
        assert rules.gpu_toleration_key == hub_rules["gpuTolerationKey"]
    expected = space_admission_policies(rules)
    for manifest in expected:
        name = manifest["metadata"]["name"]
        shipped = find(objects, manifest["kind"], name)
        assert shipped["spec"] == manifest["spec"], (
            f"{manifest['kind']} {name} in charts/tds-operator/templates/space-policies.yaml "
            f"must have this spec:\n{yaml.safe_dump(manifest['spec'], width=1000)}"
        )
    shipped_names = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"].startswith("ValidatingAdmissionPolicy")
        and o["metadata"]["name"].startswith("tds-space-")
    }
    assert shipped_names == {m["metadata"]["name"] for m in expected}
    (reader,) = [
        rule
        for _, _, rule in operator_rules(objects)
        if "validatingadmissionpolicies" in rule["resources"]
    ]
    assert reader["verbs"] == ["get"]
    assert set(reader["resourceNames"]) == shipped_names


@pytest.mark.parametrize(
    ("values", "account"),
    [
        ({}, f"system:serviceaccount:{NAMESPACE}:{fullname()}"),
        ({"serviceAccount.name": "robot"}, f"system:serviceaccount:{NAMESPACE}:robot"),
    ],
    ids=["default", "named-account"],
)
def test_the_confinement_binds_the_operators_service_account(
    values: dict[str, str], account: str
) -> None:
    objects = render_chart(values)
    policy = find(objects, "ValidatingAdmissionPolicy", f"{fullname()}-confinement")
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == f'request.userInfo.username == "{account}"'
    assert find(objects, "ServiceAccount")["metadata"]["name"] == account.rpartition(":")[2]
    binding = find(objects, "ValidatingAdmissionPolicyBinding", f"{fullname()}-confinement")
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }


def test_the_operator_is_granted_no_wildcard() -> None:
    for kind, _, rule in operator_rules(render_chart()):
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(key, []), (kind, rule)
    binds = [rule for _, _, rule in operator_rules(render_chart()) if "bind" in rule["verbs"]]
    assert binds, "the operator binds the space roles"
    bound = {name for rule in binds for name in rule["resourceNames"]}
    # The space roles, and what a volume dataset's gateway asks the API server with.
    assert bound == {r["metadata"]["name"] for r in space_roles()}


def test_the_deployment_is_restricted_and_probed() -> None:
    objects = render_chart()
    pod = find(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert [c["name"] for c in pod["containers"]] == ["operator", "webhooks"]
    for main in pod["containers"]:
        security = main["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, main["name"]
        assert security["allowPrivilegeEscalation"] is False, main["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, main["name"]
        assert security["runAsNonRoot"] is True, main["name"]
    operator, webhooks = container(objects), container(objects, "webhooks")
    for main, health, metrics_port in (
        (operator, "health", "metrics"),
        (webhooks, "webhook-health", "webhook-metrics"),
    ):
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        env = environment(objects, main["name"])
        assert env["TDS_LIVENESS_ENDPOINT"] == f"http://0.0.0.0:{ports[health]}/healthz"
        assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": health}
        assert int(env["TDS_METRICS_PORT"]) == ports[metrics_port]
    # Only the webhooks container listens for admission requests, and only it is probed for
    # readiness: the Service's endpoints are the webhook servers.
    assert "webhook" not in {p["name"] for p in operator["ports"]}
    assert "readinessProbe" not in operator
    assert webhooks["readinessProbe"] == {"tcpSocket": {"port": "webhook"}, "periodSeconds": 5}
    env = environment(objects, "webhooks")
    webhook_port = next(p["containerPort"] for p in webhooks["ports"] if p["name"] == "webhook")
    assert int(env["TDS_WEBHOOK_PORT"]) == webhook_port
    metrics = find(objects, "Service", f"{fullname()}-metrics")
    assert [p["targetPort"] for p in metrics["spec"]["ports"]] == ["metrics", "webhook-metrics"]
    webhook_service = find(objects, "Service", f"{fullname()}-webhook")
    assert webhook_service["spec"]["ports"][0]["targetPort"] == "webhook"
    mounts = {m["name"]: m["mountPath"] for m in webhooks["volumeMounts"]}
    assert env["TDS_WEBHOOK_CERT_DIR"] == mounts["webhook-tls"]
    assert "webhook-tls" not in {m["name"] for m in operator["volumeMounts"]}


def test_each_replica_runs_a_controller_and_a_webhook_server_judging_by_the_same_rules() -> None:
    """The two processes of a pod differ in their role and ports alone: the webhooks judge by
    the hub rules the reconcilers enforce."""
    values = {"hubRules": {"maxContractDays": 30, "suspendedSpaces": ["acme"]}}
    objects = render_chart(values_file=values)
    controller_env, webhooks_env = environment(objects), environment(objects, "webhooks")
    operator = OperatorConfig.from_environment(controller_env)
    webhooks = OperatorConfig.from_environment(webhooks_env)
    assert (operator.role, webhooks.role) == ("controller", "webhooks")
    assert operator.hub_rules == webhooks.hub_rules
    assert webhooks.hub_rules.max_contract_days == 30
    assert {operator.metrics_port, webhooks.metrics_port} == {9090, 9091}
    shared = set(controller_env) & set(webhooks_env)
    differ = {name for name in shared if controller_env[name] != webhooks_env[name]}
    assert differ == {"TDS_ROLE", "TDS_METRICS_PORT", "TDS_LIVENESS_ENDPOINT"}


def test_two_replicas_serve_webhooks_and_elect_their_reconciler_by_a_lease() -> None:
    objects = render_chart()
    deployment = find(objects, "Deployment", fullname())
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = deployment["spec"]["template"]["spec"]
    (preferred,) = pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert preferred["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    budget = find(objects, "PodDisruptionBudget", fullname())
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    lease = f"{fullname()}-leader"
    assert OperatorConfig.from_environment(environment(objects)).leader_lease == lease
    replica = next(e for e in container(objects)["env"] if e["name"] == "TDS_REPLICA_NAME")
    assert replica["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    lease_rules = [
        rule for _, _, rule in operator_rules(objects) if "leases" in rule.get("resources", [])
    ]
    assert {tuple(r["verbs"]): r.get("resourceNames") for r in lease_rules} == {
        ("get", "patch"): [lease],
        ("create",): None,
    }
    # One replica: no budget that would block every drain.
    single = render_chart({"replicaCount": "1"})
    assert not [o for o in single if o["kind"] == "PodDisruptionBudget"]


def test_the_charts_configuration_is_what_the_operator_reads() -> None:
    """Defaults agree with the operator's, and each hub rule value arrives as the operator
    parses it."""
    defaults = render_chart()
    config = OperatorConfig.from_environment(environment(defaults))
    assert config.namespace == NAMESPACE
    served = OperatorConfig.from_environment(environment(defaults, "webhooks"))
    assert served.webhook_mode == "cluster"
    assert served.webhook_address == "0.0.0.0"
    assert (config.space_workers, config.requests_in_flight) == (
        OperatorConfig.space_workers,
        OperatorConfig.requests_in_flight,
    )
    throughput = render_chart(
        values_file={"throughput": {"spaceWorkers": 6, "apiRequestsInFlight": 24}}
    )
    tuned = OperatorConfig.from_environment(environment(throughput))
    assert (tuned.space_workers, tuned.requests_in_flight) == (6, 24)
    # Gateways serve files with the operator's own image, and an output's manifest step runs it.
    operator = find(defaults, "Deployment", fullname())["spec"]["template"]["spec"]
    image = operator["containers"][0]["image"]
    assert image == f"tds-operator:{chart_app_version()}"
    assert config.hub_rules == HubRules(gateway_file_server_image=image, operator_image=image)
    hub_rules = {
        "maxContractDays": 90,
        "gpuNodeSelector": {"hub.tds.io/pool": "h100", "zone": "east"},
        "gpuTolerationKey": "gpu.example.com/dedicated",
        "maxGpuHoursPerContract": 2500.5,
        "maxConcurrentGpusPerContract": 64,
        "suspendedSpaces": ["acme", "globex"],
        "scratchSizeLimit": "50Gi",
        "outputMaxSize": "2Ti",
        "outputStorageClass": "fast-retained",
        "outputRetention": "90m",
        "simulationHub": True,
        "podCidrs": ["10.244.0.0/16", "fd00:10:244::/56"],
        "serviceCidrs": ["10.96.0.0/12"],
        "apiServerCidrs": ["192.168.10.5"],
        "allowAnyEgressDestination": True,
        "gatewayFileServerImage": "python:3.12-slim",
        "gatewayProxyImage": "proxy.example.com/kube-rbac-proxy@sha256:" + "0" * 64,
    }
    image = {"repository": "registry.example/tds-operator", "digest": "sha256:" + "a" * 64}
    objects = render_chart(values_file={"hubRules": hub_rules, "image": image})
    rules = OperatorConfig.from_environment(environment(objects)).hub_rules
    assert rules == HubRules(
        operator_image=f"{image['repository']}@{image['digest']}",
        max_contract_days=90,
        gpu_node_selector={"hub.tds.io/pool": "h100", "zone": "east"},
        gpu_toleration_key="gpu.example.com/dedicated",
        max_gpu_hours_per_contract=2500.5,
        max_concurrent_gpus_per_contract=64,
        suspended_spaces=frozenset({"acme", "globex"}),
        scratch_size_limit="50Gi",
        output_max_size="2Ti",
        output_storage_class="fast-retained",
        output_retention=timedelta(minutes=90),
        simulation_hub=True,
        pod_cidrs=(ip_network("10.244.0.0/16"), ip_network("fd00:10:244::/56")),
        service_cidrs=(ip_network("10.96.0.0/12"),),
        api_server_cidrs=(ip_network("192.168.10.5/32"),),
        allow_any_egress_destination=True,
        gateway_file_server_image="python:3.12-slim",
        gateway_proxy_image="proxy.example.com/kube-rbac-proxy@sha256:" + "0" * 64,
    )


def certificates(objects: list[Manifest]) -> tuple[x509.Certificate, x509.Certificate]:
    data = find(objects, "Secret", f"{fullname()}-webhook-tls")["data"]
    serving = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    return serving, ca


def test_the_helm_made_certificate_is_for_the_service_and_signed_by_the_ca_bundle() -> None:
    objects = render_chart()
    serving, ca = certificates(objects)
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    service = f"{fullname()}-webhook.{NAMESPACE}.svc"
    assert service in names.get_values_for_type(x509.DNSName)
    bundle = base64.b64decode(
        find(objects, "Secret", f"{fullname()}-webhook-tls")["data"]["ca.crt"]
    )
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in find(objects, kind)["webhooks"]:
            assert base64.b64decode(hook["clientConfig"]["caBundle"]) == bundle
            assert hook["clientConfig"]["service"]["name"] == f"{fullname()}-webhook"


def test_a_development_url_replaces_the_service_and_is_in_the_certificate() -> None:
    objects = render_chart({"webhook.url": "https://127.0.0.1:19443"})
    serving, _ = certificates(objects)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    hook = find(objects, "ValidatingWebhookConfiguration")["webhooks"][-1]
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:19443/space-deletion"
    assert "service" not in hook["clientConfig"]


def test_with_cert_manager_the_ca_is_injected_and_helm_makes_no_key() -> None:
    objects = render_chart({"webhook.certificate.provider": "cert-manager"})
    secrets = [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"]
    assert secrets == [SIGNING_KEY_SECRET, CHECKPOINT_KEY_SECRET]
    certificate = find(objects, "Certificate")
    assert certificate["spec"]["secretName"] == f"{fullname()}-webhook-tls"
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        config = find(objects, kind)
        annotation = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert annotation == f"{NAMESPACE}/{certificate['metadata']['name']}"
        assert all("caBundle" not in h["clientConfig"] for h in config["webhooks"])


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "-1"},
        {"podDisruptionBudget.minAvailable": "0"},
        {"webhok.port": "9443"},
        {"hubRules.maxContractDays": "0"},
        {"webhook.url": "http://insecure.example"},
        {"hubRules.suspendedSpaces": "{Not_A_Name}"},
        {"hubRules.scratchSizeLimit": "10GB"},
        {"throughput.apiRequestsInFlight": "0"},
    ],
    ids=str,
)
def test_the_schema_refuses_values_the_operator_cannot_use(values: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="values don't meet the specifications"):
        render_chart(values)


def chart_app_version() -> str:
    """The chart's appVersion: the default tag of the operator's image."""
    for line in (CHART / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError("Chart.yaml has no appVersion")


def test_helm_template_renders_without_a_kube_version() -> None:
    """Offline, Helm assumes Kubernetes 1.20 and finds nothing with `lookup`: the chart renders
    anyway (the version check applies where a cluster answers)."""
    text = run([helm_binary(), "template", "tds-operator", str(CHART), "-n", NAMESPACE])
    kinds = {doc["kind"] for doc in yaml.safe_load_all(text) if doc}
    assert {"Deployment", "ValidatingAdmissionPolicy", "ClusterRole"} <= kinds


def test_the_chart_works_as_a_subchart_with_global_values(tmp_path: Path) -> None:
    """An umbrella chart that depends on this one, with `global` values (which every subchart
    receives): it builds and renders."""
    umbrella = tmp_path / "platform"
    umbrella.mkdir()
    (umbrella / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [
                    {
                        "name": "tds-operator",
                        "version": yaml.safe_load((CHART / "Chart.yaml").read_text())["version"],
                        "repository": f"file://{CHART}",
                    }
                ],
            }
        )
    )
    (umbrella / "values.yaml").write_text(
        yaml.safe_dump(
            {"global": {"imageRegistry": "registry.example"}, "tds-operator": {"replicaCount": 1}}
        )
    )
    run([helm_binary(), "dependency", "build", str(umbrella)])
    text = run([helm_binary(), "template", "platform", str(umbrella), "-n", NAMESPACE])
    deployments = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"]
    assert [d["spec"]["replicas"] for d in deployments] == [1]
    # The schema still refuses what it does not know, beside `global`.
    with pytest.raises(CommandError, match="additional properties 'replicaCont' not allowed"):
        render_chart({"replicaCont": "1"})


def test_the_space_roles_and_policies_outlive_an_uninstall() -> None:
    """Live spaces bind the space roles and rely on the admission policies: Helm keeps them."""
    objects = render_chart()
    kept = [
        o
        for o in objects
        if o["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
    ]
    names = {(o["kind"], o["metadata"]["name"]) for o in kept}
    shipped = {
        (o["kind"], o["metadata"]["name"])
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "space-access"
    }
    assert shipped, "no space roles or policies rendered"
    assert shipped <= names


def test_chart_run_prints_the_settings_the_chart_gives_the_operator() -> None:
    """`hack/chart-run.sh --print`: the Deployment's settings as a local run would take them
    (a pod's own address, ports and name left out), with the values given."""
    printed = run(
        [
            str(REPO_ROOT / "hack" / "chart-run.sh"),
            "--print",
            "--set",
            "hubRules.maxContractDays=90",
            "--set",
            "kueue.enabled=false",
        ]
    )
    settings = dict(line.split("=", 1) for line in printed.splitlines() if line.startswith("TDS_"))
    assert settings["TDS_MAX_CONTRACT_DAYS"] == "90"
    assert settings["TDS_KUEUE"] == "off"
    assert settings["TDS_WEBHOOK_MODE"] == "cluster"
    # A pod's own settings, and its role: a local run is one process of both roles.
    own = {"TDS_WEBHOOK_PORT", "TDS_METRICS_PORT", "TDS_REPLICA_NAME", "TDS_ROLE"}
    assert not own & set(settings)
    assert "# ServiceAccount: tds-operator" in printed


def test_the_published_checkpoint_keys_are_readable_by_whom_auditkeys_names() -> None:
    objects = render_chart()
    role = find(objects, "Role", f"{fullname()}-audit-keys")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["tds-audit-keys"],
            "verbs": ["get"],
        }
    ]
    binding = find(objects, "RoleBinding", f"{fullname()}-audit-keys")
    assert [s["name"] for s in binding["subjects"]] == ["system:authenticated"]
    none = render_chart(values_file={"auditKeys": {"readers": []}})
    assert not [o for o in none if o["metadata"]["name"] == f"{fullname()}-audit-keys"]
    # The operator reads both of its keys, by name, and no other Secret.
    secrets = [rule for _, _, rule in operator_rules(objects) if "secrets" in rule["resources"]]
    assert [rule["resourceNames"] for rule in secrets] == [
        [SIGNING_KEY_SECRET, CHECKPOINT_KEY_SECRET]
    ]
