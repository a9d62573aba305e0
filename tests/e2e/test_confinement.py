"""The operator's ServiceAccount confined by the chart's admission policy: with its token, every
write outside what the operator does is refused, and the refusal names the policy and the rule.

RBAC lets that account create, bind and delete cluster-wide; each test below is a write RBAC
allows and the policy forbids. That the operator's own writes all pass is shown by the story
(test_product.py), which fails on any refusal in the operator's log.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.cluster import NAMESPACE, Manifest, fullname, get, kubectl
from tests.e2e.confinement import MANAGED, POLICY, Scratch, Token, namespace
from tests.e2e.story import refused

pytestmark = pytest.mark.e2e


def binding(kind: str, name: str, role: str, where: str | None = None) -> Manifest:
    metadata: Manifest = {"name": name, "labels": MANAGED}
    if where:
        metadata["namespace"] = where
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }


def job(name: str, where: str, *, token_mounted: bool) -> Manifest:
    pod: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": token_mounted,
        "containers": [{"name": "c", "image": "busybox"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": where},
        "spec": {"template": {"spec": pod}},
    }


def test_the_owner_role_is_not_bound_outside_spaces(token: Token, scratch: Scratch) -> None:
    """The road to cluster admin: tds-space-owner (Secrets, exec) bound in kube-system."""
    name = f"tds-owners-{uuid.uuid4().hex[:6]}"
    scratch.append(("rolebinding", name, "kube-system"))
    manifest = binding("RoleBinding", name, "tds-space-owner", "kube-system")
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "may write only inside the tds-* namespaces it made")


def test_the_owner_role_is_not_bound_at_cluster_scope(token: Token, scratch: Scratch) -> None:
    name = f"tds-space-x-{uuid.uuid4().hex[:6]}"
    scratch.append(("clusterrolebinding", name, None))
    manifest = binding("ClusterRoleBinding", name, "tds-space-owner")
    refused(lambda: token.create(manifest), f"{POLICY} with binding")
    refused(lambda: token.create(manifest), "only tds-participant,")


def test_a_spaces_contract_role_is_bound_only_under_its_own_name(
    token: Token, scratch: Scratch
) -> None:
    role = f"tds-space-x{uuid.uuid4().hex[:6]}-contract-owners"
    kubectl("create", "clusterrole", role, "--verb=get", "--resource=datacontracts.tds.io")
    name = f"tds-space-x-{uuid.uuid4().hex[:6]}"
    scratch += [("clusterrole", role, None), ("clusterrolebinding", name, None)]
    manifest = binding("ClusterRoleBinding", name, role)
    refused(lambda: token.create(manifest), "a space's own contract role")


def test_the_only_cluster_roles_it_writes_are_the_spaces_contract_roles(
    token: Token, scratch: Scratch
) -> None:
    def role(name: str, resources: list[str]) -> Manifest:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": MANAGED},
            "rules": [{"apiGroups": ["tds.io"], "resources": resources, "verbs": ["get"]}],
        }

    other = f"e2e-reader-{uuid.uuid4().hex[:6]}"
    contracts = f"tds-space-x{uuid.uuid4().hex[:6]}-contract-owners"
    scratch += [("clusterrole", other, None), ("clusterrole", contracts, None)]
    refused(lambda: token.create(role(other, ["datacontracts"])), POLICY)
    # Its own name pattern, but a grant beyond DataContracts.
    refused(lambda: token.create(role(contracts, ["dataspaces"])), "DataContracts alone")
    # Patch of a DataSpace: only of the space the role is named after, to its owners.
    space = contracts.removeprefix("tds-space-").removesuffix("-contract-owners")
    patch = {"apiGroups": ["tds.io"], "resources": ["dataspaces"], "verbs": ["patch"]}
    other_space = {**role(contracts, []), "rules": [{**patch, "resourceNames": ["elsewhere"]}]}
    refused(lambda: token.create(other_space), "DataContracts alone")
    own_space = {**role(contracts, []), "rules": [{**patch, "resourceNames": [space]}]}
    token.create(own_space)  # the positive control: what the operator writes for owners


def test_in_its_own_namespace_it_grants_only_ledger_pages_by_name(
    token: Token, scratch: Scratch
) -> None:
    """A stolen token cannot hand the signing key, or every ConfigMap, to someone else."""

    def role(name: str, rule: Manifest) -> Manifest:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": MANAGED},
            "rules": [rule],
        }

    readers = f"tds-space-x{uuid.uuid4().hex[:6]}-ledger-readers"
    other = f"e2e-reader-{uuid.uuid4().hex[:6]}"
    scratch += [("role", readers, NAMESPACE), ("role", other, NAMESPACE)]
    pages = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    key = {**pages, "resources": ["secrets"], "resourceNames": ["tds-operator-signing-key"]}
    refused(lambda: token.create(role(readers, key)), "granting get on ledger pages")
    refused(lambda: token.create(role(readers, pages)), "granting get on ledger pages")
    named = {**pages, "resourceNames": ["tds-audit-c-1a2b3c4d-0"]}
    refused(lambda: token.create(role(other, named)), POLICY)
    # The binding of a ledger-reader name must be of the Role of that very name.
    binding_name = f"tds-space-y{uuid.uuid4().hex[:6]}-ledger-readers"
    scratch.append(("rolebinding", binding_name, NAMESPACE))
    owner_binding = binding("RoleBinding", binding_name, "tds-space-owner", NAMESPACE)
    refused(lambda: token.create(owner_binding), "ledger-reader Role")


def test_the_only_lease_it_writes_is_its_leader_elections(token: Token, scratch: Scratch) -> None:
    """A stolen token cannot take another controller's Lease (kube-system's leader elections)."""

    def lease(name: str) -> Manifest:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"holderIdentity": "mallory", "leaseDurationSeconds": 3600},
        }

    other = f"e2e-lease-{uuid.uuid4().hex[:6]}"
    scratch.append(("lease", other, NAMESPACE))
    refused(lambda: token.create(lease(other)), POLICY)
    refused(lambda: token.create(lease(other)), "writes one Lease, its leader election")
    # (Never in the scratch list: the clean-up would delete the hub's own scheduler's Lease.)
    stolen = {
        **lease("kube-scheduler"),
        "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
    }
    refused(lambda: token.create(stolen), "kube-system")
    refused(
        lambda: token.kubectl(
            "patch",
            "lease",
            "kube-scheduler",
            "-n",
            "kube-system",
            "--type=merge",
            "-p",
            '{"spec":{"holderIdentity":"mallory"}}',
        ),
        "kube-system",
    )


def test_only_the_space_roles_are_bound_in_a_space(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    scratch.append(("rolebinding", "tds-participants", where))
    manifest = binding("RoleBinding", "tds-participants", "tds-participant", where)
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "binds only tds-space-owner, tds-space-member")


def test_bindings_it_did_not_make_are_not_deleted(token: Token, scratch: Scratch) -> None:
    name = f"e2e-admins-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", stdin=json.dumps(binding("ClusterRoleBinding", name, "view")))
    scratch.append(("clusterrolebinding", name, None))
    refused(lambda: token.kubectl("delete", "clusterrolebinding", name), POLICY)
    assert get("clusterrolebinding", name) is not None


def test_jobs_run_only_in_clean_rooms(token: Token, space: Manifest, scratch: Scratch) -> None:
    """Not in kube-system (a privileged account's pods), not in a space (its owners' Secrets)."""
    scratch.append(("job", "miner", "kube-system"))
    refused(lambda: token.create(job("miner", "kube-system", token_mounted=False)), POLICY)
    where = f"tds-{space['metadata']['name']}"
    scratch.append(("job", "miner", where))
    manifest = job("miner", where, token_mounted=False)
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "runs Jobs only in clean rooms")


def test_jobs_in_a_clean_room_get_no_token(token: Token, clean_room: str, scratch: Scratch) -> None:
    scratch.append(("job", "miner", clean_room))
    manifest = job("miner", clean_room, token_mounted=True)
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "without its API token")
    other_account = job("miner", clean_room, token_mounted=False)
    other_account["spec"]["template"]["spec"]["serviceAccountName"] = "builder"
    refused(lambda: token.create(other_account), "tds-worker (or default) ServiceAccount")
    # A projected token for the API server (any audience but the datasets') is no emptyDir.
    api_token = job("miner", clean_room, token_mounted=False)
    api_token["spec"]["template"]["spec"]["volumes"] = [
        {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    ]
    refused(lambda: token.create(api_token), "the dataset token (audience tds.io/datasets) only")
    allowed = job("trainer", clean_room, token_mounted=False)
    assert "(server dry run)" in token.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(allowed)
    )


def test_namespaces_are_made_only_as_the_operator_makes_them(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    plain = f"e2e-conf-{uuid.uuid4().hex[:6]}"
    scratch.append(("namespace", plain, None))
    refused(lambda: token.create(namespace(plain, MANAGED, space)), POLICY)
    unowned = f"tds-{uuid.uuid4().hex[:6]}"
    scratch.append(("namespace", unowned, None))
    labels = {**MANAGED, "pod-security.kubernetes.io/enforce": "restricted"}
    refused(lambda: token.create(namespace(unowned, labels)), "DataSpace or DataContract")
    privileged = f"tds-{uuid.uuid4().hex[:6]}"
    scratch.append(("namespace", privileged, None))
    labels = {**MANAGED, "tds.io/space": space["metadata"]["name"]}
    refused(lambda: token.create(namespace(privileged, labels, space)), "Pod Security restricted")


def test_namespaces_it_did_not_make_are_neither_adopted_nor_deleted(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    name = f"tds-victim-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    scratch.append(("namespace", name, None))
    refused(lambda: token.kubectl("delete", "namespace", name, "--wait=false"), POLICY)
    labels = {
        **MANAGED,
        "tds.io/space": space["metadata"]["name"],
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    patch = json.dumps({"metadata": namespace(name, labels, space)["metadata"]})
    refused(
        lambda: token.kubectl("patch", "namespace", name, "--type=merge", "-p", patch),
        "may not adopt namespace",
    )
    found = get("namespace", name)
    assert found is not None
    assert not found["metadata"].get("deletionTimestamp")


@pytest.mark.parametrize(
    "manifest",
    [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "tds-deny-all", "namespace": "kube-system"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "tds-intercept", "namespace": "kube-system"},
            "spec": {"ports": [{"port": 443}], "externalIPs": ["192.0.2.10"]},
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "tds-starve", "namespace": "kube-system"},
            "spec": {"hard": {"pods": "0"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "tds-forged.1", "namespace": "kube-system"},
            "involvedObject": {"kind": "Pod", "name": "x", "namespace": "kube-system"},
            "reason": "Forged",
            "message": "forged",
        },
    ],
    ids=lambda manifest: manifest["kind"],
)
def test_nothing_is_written_outside_its_namespaces(
    token: Token, manifest: Manifest, scratch: Scratch
) -> None:
    metadata = manifest["metadata"]
    scratch.append((manifest["kind"].lower(), metadata["name"], metadata["namespace"]))
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "in namespace kube-system")


def claim(name: str, where: str, volume: str | None = None) -> Manifest:
    spec: Manifest = {
        "storageClassName": "tds-output",
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if volume:
        spec["volumeName"] = volume
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": where},
        "spec": spec,
    }


def test_claims_only_for_outputs_and_never_naming_a_volume_in_a_space(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    """A stolen token cannot claim someone's volume into a space, nor claim outside tds-*."""
    where = f"tds-{space['metadata']['name']}"
    scratch.append(("pvc", "loot", where))
    # The space's own claim policy refuses it too; the API server reports either refusal.
    space_claims = "may not name a PersistentVolume"
    loot = claim("loot", where, volume="hub-output-1")
    refused(lambda: token.create(loot), "names no volume", space_claims)
    scratch.append(("pvc", "loot", "kube-system"))
    refused(lambda: token.create(claim("loot", "kube-system")), POLICY)


def test_volumes_are_never_made_nor_pointed_outside_tds_namespaces(
    token: Token, scratch: Scratch
) -> None:
    name = f"e2e-pv-{uuid.uuid4().hex[:6]}"
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "storageClassName": "tds-output",
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/"},
        },
    }
    scratch.append(("pv", name, None))
    refused(lambda: token.create(volume), "cannot create resource")  # RBAC grants no create
    kubectl("create", "-f", "-", stdin=json.dumps(volume))
    patch = '{"spec":{"claimRef":{"namespace":"kube-system","name":"loot"}}}'
    refused(lambda: token.kubectl("patch", "pv", name, "--type=merge", "-p", patch), POLICY)
    refused(lambda: token.kubectl("delete", "pv", name), POLICY)


def test_the_only_roles_it_writes_are_review_roles_on_one_release(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "tds-review-all", "namespace": where},
        "rules": [
            {"apiGroups": ["tds.io"], "resources": ["modelreleases"], "verbs": ["get", "patch"]}
        ],
    }
    scratch.append(("role", "tds-review-all", where))
    refused(lambda: token.create(role), "granting access to one ModelRelease by name")
    # Rights the operator holds itself (so RBAC's escalation check lets it grant them).
    services = {**role, "metadata": {"name": "tds-review-x", "namespace": where}}
    services["rules"] = [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]
    scratch.append(("role", "tds-review-x", where))
    refused(lambda: token.create(services), POLICY)


def dataset_role(name: str, where: str, rule: Manifest) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": where, "labels": MANAGED},
        "rules": [rule],
    }


def test_the_only_roles_it_writes_grant_get_on_datasets_by_name(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    every_dataset = {"apiGroups": ["tds.io"], "resources": ["datasets"], "verbs": ["get"]}
    secrets = {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get"],
        "resourceNames": ["x"],
    }
    scratch += [("role", "tds-datasets-all", where), ("role", "tds-datasets-keys", where)]
    refused(lambda: token.create(dataset_role("tds-datasets-all", where, every_dataset)), POLICY)
    # Rights it does not hold, RBAC refuses first (it may not escalate).
    refused(
        lambda: token.create(dataset_role("tds-datasets-keys", where, secrets)),
        "attempting to grant RBAC permissions not currently held",
    )
    named = {**every_dataset, "resourceNames": ["records"]}
    scratch.append(("role", "tds-datasets-x", "kube-system"))
    refused(lambda: token.create(dataset_role("tds-datasets-x", "kube-system", named)), POLICY)
    refused(
        lambda: token.create(dataset_role("other", where, named)),
        "dataset grants (tds-datasets-<contract>)",
    )


def test_a_dataset_grant_binds_only_a_clean_rooms_worker(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    name = f"tds-datasets-{uuid.uuid4().hex[:6]}"
    # The Role exists and grants what the operator holds, so RBAC lets the binding through.
    rule = {
        "apiGroups": ["tds.io"],
        "resources": ["datasets"],
        "verbs": ["get"],
        "resourceNames": ["records"],
    }
    kubectl("create", "-f", "-", stdin=json.dumps(dataset_role(name, where, rule)))
    manifest = binding("RoleBinding", name, name, where)
    manifest["roleRef"]["kind"] = "Role"
    scratch += [("role", name, where), ("rolebinding", name, where)]
    refused(lambda: token.create(manifest), "to a clean room's tds-worker alone")


def test_gateways_mount_claims_read_only_as_their_own_account(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    name = f"tds-gw-{uuid.uuid4().hex[:6]}"
    pod: Manifest = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": where, "labels": MANAGED},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
        },
    }
    scratch.append(("deployment", name, where))
    refused(lambda: token.create(deployment), "with claims mounted read-only")
    gateway_binding = binding("ClusterRoleBinding", name, "tds-dataset-gateway")
    scratch.append(("clusterrolebinding", name, None))
    refused(lambda: token.create(gateway_binding), "for a dataset gateway's own account")


def operator_image() -> str:
    """The image the chart runs the operator with (the manifest step's image)."""
    deployment = get("deployment", fullname(), NAMESPACE) or {}
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def manifest_step(where: str, image: str, *, read_only: bool = True) -> Manifest:
    """A pod shaped as the operator's manifest step of an output."""
    mount = {"name": "output", "mountPath": "/output", "readOnly": read_only}
    claim = {"claimName": "train-output", "readOnly": read_only}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "train-manifest", "namespace": where},
        "spec": {
            "automountServiceAccountToken": False,
            # Pod Security restricted, as the clean room enforces.
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "manifest",
                    "image": image,
                    "volumeMounts": [mount],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [{"name": "output", "persistentVolumeClaim": claim}],
        },
    }


def test_its_only_pods_read_an_output_with_its_own_image_in_a_clean_room(
    token: Token, space: Manifest, clean_room: str, scratch: Scratch
) -> None:
    """A stolen token cannot run a miner, nor write to an output, nor leave the clean rooms."""
    image = operator_image()
    scratch.append(("pod", "train-manifest", clean_room))
    refused(lambda: token.create(manifest_step(clean_room, "busybox")), POLICY)
    refused(lambda: token.create(manifest_step(clean_room, "busybox")), "its own")
    refused(lambda: token.create(manifest_step(clean_room, image, read_only=False)), "read-only")
    with_token = manifest_step(clean_room, image)
    with_token["spec"]["automountServiceAccountToken"] = True
    refused(lambda: token.create(with_token), "without a ServiceAccount token")
    where = f"tds-{space['metadata']['name']}"
    scratch.append(("pod", "train-manifest", where))
    refused(lambda: token.create(manifest_step(where, image)), "pods only in clean rooms")
    allowed = manifest_step(clean_room, image)
    assert "(server dry run)" in token.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(allowed)
    )


def test_in_a_space_the_only_configmaps_it_writes_are_checkpoints(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"

    def config_map(name: str) -> Manifest:
        metadata = {"name": name, "namespace": where, "labels": MANAGED}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "b"}}

    other = f"e2e-other-{uuid.uuid4().hex[:6]}"
    checkpoint = f"tds-checkpoint-e2e-{uuid.uuid4().hex[:6]}"
    scratch += [("configmap", other, where), ("configmap", checkpoint, where)]
    refused(lambda: token.create(config_map(other)), "signed ledger checkpoints")
    token.create(config_map(checkpoint))  # the positive control: what the operator writes
    # Nor does it delete one (RBAC grants no delete of ConfigMaps outside its namespace).
    refused(lambda: token.kubectl("delete", "configmap", checkpoint, "-n", where), "forbidden")


def test_only_a_gateways_replica_sets_are_deleted(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    """The operator deletes a gateway's ReplicaSets when its contract ends; it may delete no
    other ReplicaSet, and create none."""
    where = f"tds-{space['metadata']['name']}"
    name = f"app-{uuid.uuid4().hex[:6]}"
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": where},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    kubectl("create", "-f", "-", stdin=json.dumps(replica_set))
    scratch.append(("replicaset", name, where))
    refused(
        lambda: token.kubectl("delete", "replicaset", name, "-n", where),
        "the only ReplicaSets the operator touches",
    )
    assert get("replicaset", name, where) is not None
    refused(
        lambda: token.create(
            {**replica_set, "metadata": {"name": f"{name}-2", "namespace": where}}
        ),
        "forbidden",
    )


def a_contract_copy(where: str) -> Manifest:
    """A party's copy of a contract (a Contract), as the operator writes one."""
    spec = {
        "contract": "e2e-copy",
        "side": "provider",
        "counterparty": "e2e-other",
        "provider": {"space": "e2e-one", "datasets": ["records"]},
        "consumer": {"space": "e2e-other"},
        "purpose": "model-training",
        "validity": {"notAfter": "2030-01-01T00:00:00Z"},
        "compute": {"maxGpuHours": 1, "maxConcurrentGpus": 1},
        "outputs": {"modelExport": "denied"},
        "consent": {"provider": False, "consumer": False},
    }
    metadata = {"name": "e2e-copy", "namespace": where, "labels": MANAGED}
    return {"apiVersion": "tds.io/v1alpha1", "kind": "Contract", "metadata": metadata, "spec": spec}


def test_copies_of_contracts_are_written_only_in_spaces(
    token: Token, space: Manifest, clean_room: str, scratch: Scratch
) -> None:
    where = f"tds-{space['metadata']['name']}"
    scratch += [("contract", "e2e-copy", n) for n in ("kube-system", clean_room, where)]
    refused(lambda: token.create(a_contract_copy("kube-system")), POLICY)
    refused(lambda: token.create(a_contract_copy(clean_room)), "in space namespaces only")
    token.create(a_contract_copy(where))  # the positive control: what the operator writes
