"""`kubectl tds`: its command line, what it sends and prints, and one line for every failure."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import get_args

import httpx
import pytest

from kubectl_tds import cli as light
from kubectl_tds import contract_cli, terms
from kubectl_tds import explain as report
from kubectl_tds import report as status_report
from tds_operator.api.datacontract import Purpose
from tds_operator.connection import (
    EXIT_NO_CLUSTER,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_USAGE,
    Caller,
    Failure,
    explain,
    no_cluster,
)
from tds_operator.kube import KubeError
from tds_operator.plugin import cli

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_kubectls_flags_are_taken_before_or_after_the_command() -> None:
    parser = cli.build_parser()
    before = parser.parse_args(["-n", "tds-cmcc", "--context", "hub", "consent", "c", "--key=k"])
    after = parser.parse_args(["consent", "c", "--key=k", "--namespace", "tds-cmcc", "--as", "bob"])
    assert (before.namespace, before.context, before.contract) == ("tds-cmcc", "hub", "c")
    assert (after.namespace, after.as_user) == ("tds-cmcc", "bob")
    groups = parser.parse_args(["consent", "c", "--key=k", "--as", "u", "--as-group", "a"])
    assert cli.caller_of(groups) == Caller(user="u", groups=("a",))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["revoke"],
        ["consent", "c", "--party", "hub"],
        ["propose", "c", "--provider", "sgcc"],
        ["propose", "c", "-f", "contract.yaml"],
        ["usage", "--max-gpu-hours", "3"],
        ["revoke", "c", "--as-group", "sgcc-admins"],
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    code, out, err = light.main(argv, out, err), out.getvalue(), err.getvalue()
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err


def test_a_proposal_from_flags_names_every_term() -> None:
    args = light.build_parser().parse_args(
        [
            "propose",
            "c1",
            "--provider",
            "sgcc",
            "--consumer",
            "cmcc",
            "--dataset",
            "load",
            "--dataset",
            "weather",
            "--not-after",
            "2027-03-15T00:00:00Z",
            "--max-gpu-hours",
            "500",
            "--max-concurrent-gpus",
            "16",
            "--max-jobs",
            "3",
            "--approve",
        ]
    )
    assert contract_cli.proposal_of(args) == {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataContract",
        "metadata": {"name": "c1"},
        "spec": {
            "provider": {"space": "sgcc", "datasets": ["load", "weather"]},
            "consumer": {"space": "cmcc"},
            "purpose": "model-training",
            "validity": {"notAfter": "2027-03-15T00:00:00Z"},
            "compute": {"maxGpuHours": 500.0, "maxConcurrentGpus": 16},
            "maxJobs": 3,
            "consent": {"provider": {"approved": True}},
        },
    }


def test_consent_withdrawal_and_revocation_are_the_documented_patches() -> None:
    assert terms.consent_patch("consumer", True) == {
        "spec": {"consent": {"consumer": {"approved": True}}}
    }
    assert terms.consent_patch("provider", False) == {
        "spec": {"consent": {"provider": {"approved": False}}}
    }
    assert terms.REVOCATION == {"spec": {"revoked": True}}


def test_the_caller_signs_for_the_party_whose_space_they_own() -> None:
    contract = {"spec": {"provider": {"space": "sgcc"}, "consumer": {"space": "cmcc"}}}
    spaces = {
        "sgcc": {"spec": {"owners": [{"kind": "Group", "name": "sgcc-admins"}]}},
        "cmcc": {"spec": {"owners": [{"kind": "User", "name": "wang"}]}},
    }
    assert terms.parties_of(contract, spaces, {"username": "li", "groups": ["sgcc-admins"]}) == [
        "provider"
    ]
    assert terms.parties_of(contract, spaces, {"username": "wang"}) == ["consumer"]
    assert terms.parties_of(contract, spaces, {"username": "eve", "groups": ["x"]}) == []
    anonymous = {"username": "system:anonymous", "groups": ["sgcc-admins"]}
    assert terms.parties_of(contract, spaces, anonymous) == []


def test_the_purposes_propose_offers_are_the_contracts_own() -> None:
    assert get_args(Purpose) == terms.PURPOSES


WEBHOOK_DENIAL = (
    'admission webhook "validate-tds-io-v1alpha1-datacontracts.tds.io" denied the request: '
    "NotAPartyOwner: user eve (groups: none) does not own DataSpace sgcc"
)


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (
            KubeError(400, "BadRequest", WEBHOOK_DENIAL),
            EXIT_REFUSED,
            "refused by the hub: NotAPartyOwner",
        ),
        (
            KubeError(
                403,
                "Forbidden",
                "ValidatingAdmissionPolicy 'tds-space-pods' with binding "
                "'tds-space-pods' denied request: pods may not tolerate the GPU taint",
            ),
            EXIT_REFUSED,
            "refused by the hub's policy tds-space-pods: pods may not tolerate",
        ),
        (
            KubeError(403, "Forbidden", 'User "eve" cannot get resource "datacontracts"'),
            EXIT_REFUSED,
            'forbidden: User "eve" cannot get',
        ),
        (KubeError(401, "Unauthorized", "Unauthorized"), EXIT_NO_CLUSTER, "log in again"),
        (KubeError(404, "NotFound", "not found"), EXIT_NOT_FOUND, "DataContract c not found"),
        (
            KubeError(422, "Invalid", "spec.purpose: Unsupported value"),
            EXIT_REFUSED,
            "spec.purpose",
        ),
        (httpx.ConnectError("All connection attempts failed"), EXIT_NO_CLUSTER, "cannot reach"),
    ],
)
def test_every_failure_is_one_line_naming_the_problem(
    error: Exception, code: int, says: str
) -> None:
    failure = explain(error, "DataContract c")
    assert failure.exit_code == code
    assert says in failure.message
    assert "\n" not in failure.message


def test_no_credentials_says_how_to_give_them() -> None:
    failure = no_cluster(ValueError("Unable to find valid credentials"), Caller())
    assert failure.exit_code == EXIT_NO_CLUSTER
    assert "set KUBECONFIG or pass --kubeconfig" in failure.message
    wrong = no_cluster(ValueError("No such context hub"), Caller(context="hub"))
    assert "kubectl config get-contexts" in wrong.message


def test_without_credentials_the_plugin_and_audit_verify_end_in_one_line(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tds_operator.process.main import main as operator_main

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out, err = run("consent", "c", "--key", "k.pem")
    assert (code, out) == (EXIT_NO_CLUSTER, "")
    assert err.startswith("error: no credentials for a cluster")
    assert err.count("\n") == 1
    assert operator_main(["audit", "verify", "c"]) == EXIT_NO_CLUSTER


def test_status_shows_phase_usage_signatures_expiry_and_jobs() -> None:
    contract = {
        "metadata": {"name": "c1"},
        "spec": {
            "provider": {"space": "sgcc", "datasets": ["load"]},
            "consumer": {"space": "cmcc"},
            "purpose": "model-training",
            "validity": {"notAfter": "2026-12-08T00:00:00Z"},
            "compute": {"maxGpuHours": 10, "maxConcurrentGpus": 8},
        },
        "status": {
            "phase": "Active",
            "usage": {"gpuHours": 2.5, "jobs": 1},
            "signatures": [{"party": "provider", "user": "li", "at": "2026-11-30T00:00:00Z"}],
            "conditions": [{"type": "Active", "reason": "Active", "message": "in force"}],
            "audit": {"entries": 7},
        },
    }
    job = {
        "metadata": {"name": "j", "namespace": "tds-cmcc"},
        "spec": {"workers": 2, "gpusPerWorker": 4},
        "status": {"phase": "Running", "gpuSeconds": 60},
    }
    text = "\n".join(status_report.contract_status(contract, [job], NOW))
    for expected in (
        "phase:      Active (Active: in force)",
        "GPU-hours:  2.50 of 10 (25% used)",
        "expires:    2026-12-08T00:00:00Z (in 7d0h)",
        "provider:   signed by li",
        "consumer:   not signed",
        "tds-cmcc/j: Running, 8 GPUs, 60 GPU-seconds",
    ):
        assert expected in text
    hidden = "\n".join(status_report.contract_status(contract, None, NOW))
    assert "visible to the consumer's owners" in hidden
    joint = {
        "metadata": {"name": "jj", "namespace": "tds-cmcc"},
        "spec": {"workers": 1, "gpusPerWorker": 2, "contracts": ["sgcc-c", "cma-c"]},
        "status": {"phase": "Succeeded", "gpuSeconds": 30},
    }
    lines = status_report.contract_status(contract, [job, joint], NOW)
    assert "  tds-cmcc/jj: Succeeded, 2 GPUs, 30 GPU-seconds, joint: sgcc-c, cma-c" in lines
    assert "  tds-cmcc/j: Running, 8 GPUs, 60 GPU-seconds" in lines


def test_why_names_the_term_and_the_ledgers_entries_about_the_job() -> None:
    job = {
        "metadata": {"name": "j", "namespace": "tds-cmcc", "uid": "u1"},
        "spec": {"contract": "c1"},
        "status": {
            "phase": "Denied",
            "conditions": [
                {"type": "Admitted", "status": "False", "reason": "PurposeMismatch", "message": "m"}
            ],
        },
    }
    entries = [
        {
            "sequence": 4,
            "at": "t",
            "kind": "JobDenied",
            "details": {"uid": "u1", "reason": "PurposeMismatch"},
        },
        {
            "sequence": 5,
            "at": "t",
            "kind": "JobAdmitted",
            "details": {"uid": "other", "reason": "x"},
        },
    ]
    lines = report.job_explanation(job, entries)
    assert "  Admitted=False PurposeMismatch: m" in lines
    assert "  #4 t JobDenied: PurposeMismatch" in lines
    assert not any("#5" in line for line in lines)
    assert report.job_explanation(job, None)[-1] == "ledger: not readable with your credentials"


def test_why_shows_each_contract_of_a_joint_job_and_never_none() -> None:
    job = {
        "metadata": {"name": "j", "namespace": "tds-cmcc", "uid": "u1"},
        "spec": {"contracts": ["c1", "c2", "c3"]},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Admitted", "status": "Unknown"}],
            "contracts": [{"name": "c1", "phase": "Active"}, {"name": "c2"}],
        },
    }
    copies = {
        "c1": {"status": {"phase": "Active"}},
        "c2": {
            "status": {
                "phase": "Suspended",
                "conditions": [{"type": "Active", "reason": "Expired", "message": "ended"}],
            }
        },
        "c3": None,
    }
    entries = [{"sequence": 1, "at": "t", "kind": "JobAdmitted", "details": {"uid": "u1"}}]
    lines = report.job_explanation(job, entries, copies)
    assert lines[0] == "TrainingJob tds-cmcc/j under DataContracts c1, c2, c3: Pending"
    assert "  Admitted=Unknown NoReason:" in lines
    assert "  c1: Active" in lines
    assert "  c2: Suspended (Expired: ended)" in lines
    assert "  c3: no copy in this namespace readable with your credentials" in lines
    assert "  c2: no state reported" in lines  # status.contracts, where the operator shows it
    assert "  #1 t JobAdmitted" in lines
    assert not any("None" in line for line in lines), lines


def test_reports_of_objects_missing_every_optional_field_print_no_none() -> None:
    contract = {"metadata": {"name": "c"}, "status": {"signatures": [{"party": "provider"}]}}
    job = {"metadata": {"name": "j"}}
    entry = {"details": {"uid": None, "gpuSeconds": None}}
    printed = [
        *status_report.contract_status(contract, [job], NOW),
        *report.job_explanation(job, [entry]),
        *terms.usage_lines([contract], {}),
        status_report.phase_line(contract),
    ]
    assert not [line for line in printed if "None" in line], printed


def test_usage_sums_per_contract_and_per_organisation() -> None:
    def contract(name: str, provider: str, consumer: str, used: float) -> dict[str, object]:
        return {
            "metadata": {"name": name},
            "spec": {
                "provider": {"space": provider},
                "consumer": {"space": consumer},
                "compute": {"maxGpuHours": 10},
            },
            "status": {"phase": "Active", "usage": {"gpuHours": used, "jobs": 1}},
        }

    spaces = {s: {"spec": {"organization": s.upper()}} for s in ("a", "b", "c")}
    lines = terms.usage_lines([contract("x", "a", "b", 1.5), contract("y", "a", "c", 2)], spaces)
    assert lines[1].split() == ["x", "Active", "A", "B", "1.50", "10", "1"]
    totals = {line.split()[0]: line.split()[1:] for line in lines[5:]}
    assert totals == {"A": ["0.00", "3.50"], "B": ["1.50", "0.00"], "C": ["2.00", "0.00"]}


def test_a_failure_keeps_its_own_exit_status() -> None:
    failure = Failure("x", EXIT_NOT_FOUND)
    assert explain(failure) is failure
