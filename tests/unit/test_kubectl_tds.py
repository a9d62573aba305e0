"""The light `kubectl tds` (plugin/, package kubectl_tds): its command line, what it prints and
sends, and one clear line for every failure kubectl reports."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from kubectl_tds import __version__, cli, completion, render, tools
from kubectl_tds.failures import (
    EXIT_NO_CLUSTER,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_USAGE,
)
from kubectl_tds.kubectl import Connection, refusal

pytestmark = pytest.mark.unit


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_kubectls_flags_go_to_every_kubectl_call_before_or_after_the_command() -> None:
    parser = cli.build_parser()
    before = parser.parse_args(["-n", "tds-cmcc", "--context", "hub", "contracts"])
    after = parser.parse_args(["contracts", "--namespace", "tds-cmcc", "--as", "bob", "-o", "yaml"])
    assert (before.namespace, before.context, after.namespace, after.output) == (
        "tds-cmcc",
        "hub",
        "tds-cmcc",
        "yaml",
    )
    groups = parser.parse_args(["check", "--kubeconfig", "k", "--as", "u", "--as-group", "a"])
    connection = tools.connection_of(groups)
    assert connection == Connection(kubeconfig="k", user="u", groups=("a",))
    assert connection.flags() == ["--kubeconfig=k", "--as=u", "--as-group=a"]


def test_the_operators_tools_keep_kubectls_flags_wherever_they_stand() -> None:
    argv = [
        "--context=hub",
        "why",
        "job",
        "--as",
        "bob",
        "--as-group",
        "g",
        "--ledger-namespace",
        "x",
    ]
    assert tools.command_of(argv) == "why"
    assert tools.command_of(["-n", "tds-a", "--kubeconfig", "k", "status", "c"]) == "status"
    assert tools.command_of(["--as", "bob"]) is None
    found = tools.connection_of(tools.flag_values(argv))
    assert found == Connection(context="hub", user="bob", groups=("g",))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["release"], "the following arguments are required: VERB"),
        (["release", "approve"], "the following arguments are required: release"),
        (["release", "sign", "r"], "invalid choice: 'sign'"),
        (["contracts", "-o", "wide"], "invalid choice: 'wide'"),
        (["version", "-o"], "expected one argument"),
        (["check", "--as-group", "admins"], "--as-group needs --as"),
        (["completion", "fish"], "invalid choice: 'fish'"),
        (["status", "c", "-o", "yaml", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(argv: list[str], says: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("error: kubectl tds"), err
    assert err.count("\n") == 1, err
    assert says in err
    assert "_command" not in err
    assert "None" not in err


@pytest.mark.parametrize(
    ("stderr", "starts", "code"),
    [
        (
            'Error from server (Forbidden): admission webhook "contracts.tds.io" denied the '
            "request: NotAPartyOwner: you own neither party",
            "refused by the hub: NotAPartyOwner: you own neither party",
            EXIT_REFUSED,
        ),
        (
            'Error from server (NotFound): contracts.tds.io "x" not found',
            "Contract x not found: check the name (and -n/--namespace)",
            EXIT_NOT_FOUND,
        ),
        (
            'Error from server (Forbidden): contracts.tds.io is forbidden: User "bob" cannot '
            'list resource "contracts" in the namespace "tds-a"',
            "refused by the hub's access rules (RBAC): contracts.tds.io is forbidden",
            EXIT_REFUSED,
        ),
        (
            "error: You must be logged in to the server (Unauthorized)",
            "the API server does not accept your credentials",
            EXIT_NO_CLUSTER,
        ),
        (
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the "
            "right host or port?",
            "cannot reach a cluster",
            EXIT_NO_CLUSTER,
        ),
        (
            'E1206 19:15:51.960853 3446 memcache.go:265] "Unhandled Error" err="couldn\'t get '
            'current server API group list"\nThe connection to the server localhost:8080 was '
            "refused - did you specify the right host or port?",
            "cannot reach a cluster (The connection to the server localhost:8080 was refused",
            EXIT_NO_CLUSTER,
        ),
        (
            'error: context "nope" does not exist',
            'cannot reach a cluster (context "nope" does not exist): set KUBECONFIG',
            EXIT_NO_CLUSTER,
        ),
        (
            'error: the server doesn\'t have a resource type "contracts"',
            "this cluster does not serve the data space's kinds (tds.io)",
            EXIT_NO_CLUSTER,
        ),
        ("", "kubectl failed: no message", EXIT_REFUSED),
    ],
)
def test_every_kubectl_failure_is_one_line_naming_the_problem(
    stderr: str, starts: str, code: int
) -> None:
    failure = refusal(stderr + "\n", "Contract x")
    assert failure.message.startswith(starts), failure.message
    assert failure.exit_code == code
    assert "\n" not in failure.message
    assert "None" not in failure.message


def test_my_contracts_are_a_table_without_none_and_json_or_yaml_on_request() -> None:
    copies = [
        {
            "metadata": {"name": "b-deal"},
            "spec": {"side": "consumer", "counterparty": "sgcc", "compute": {"maxGpuHours": 10}},
            "status": {"phase": "Active", "usage": {"gpuHours": 1.23456}},
        },
        {"metadata": {"name": "a-deal"}, "spec": {"side": "provider"}},
    ]
    lines = render.contracts_table(copies, "tds-cmcc")
    assert lines[0].split() == [
        "NAME", "SIDE", "COUNTERPARTY", "PHASE", "GPU-HOURS", "BUDGET", "EXPIRES",
    ]  # fmt: skip
    assert lines[1].split() == ["a-deal", "provider", "-", "Pending", "0.00", "-", "-"]
    assert lines[2].split()[:6] == ["b-deal", "consumer", "sgcc", "Active", "1.23", "10"]
    assert not any("None" in line for line in lines)
    assert render.contracts_table([], "tds-cmcc") == ["no contracts in namespace tds-cmcc"]
    listed = {"items": copies}
    assert json.loads(render.formatted(listed, "json")) == listed
    assert yaml.safe_load(render.formatted(listed, "yaml")) == listed


def test_version_names_the_operator_or_says_why_it_is_not_found() -> None:
    deployment = {
        "metadata": {
            "name": "tds-operator",
            "namespace": "tds-system",
            "labels": {"app.kubernetes.io/version": "0.1.0"},
        },
        "spec": {"template": {"spec": {"containers": [{"image": "tds-operator:0.1.0"}]}}},
    }
    found = render.version_document(__version__, render.operator_version([deployment]), "")
    assert render.version_lines(found) == [
        f"client:   kubectl-tds {__version__}",
        "operator: 0.1.0 (image tds-operator:0.1.0, Deployment tds-system/tds-operator)",
    ]
    unlabelled = render.operator_version([{"metadata": {"name": "d", "namespace": "n"}}])
    assert unlabelled == {
        "namespace": "n",
        "deployment": "d",
        "version": "unknown",
        "image": "unknown",
    }
    missing = render.version_document(__version__, None, "no Deployment in tds-system")
    assert render.version_lines(missing)[1] == "operator: not found (no Deployment in tds-system)"
    assert missing["operator"] == {"found": False, "reason": "no Deployment in tds-system"}


def test_a_review_is_the_patch_the_provider_owner_sends() -> None:
    assert render.review_patch("approve", None) == {"spec": {"review": {"decision": "Approved"}}}
    assert render.review_patch("reject", None) == {"spec": {"review": {"decision": "Rejected"}}}
    assert render.review_patch("approve", "sha256:ab") == {
        "spec": {"review": {"decision": "Approved", "manifestDigest": "sha256:ab"}}
    }
    reviewed = {
        "metadata": {"name": "m", "namespace": "tds-cmcc"},
        "spec": {"review": {"decision": "Approved", "reviewer": {"user": "alice"}}},
    }
    assert render.release_line(reviewed) == "ModelRelease tds-cmcc/m: Approved by alice"
    unreviewed = {"metadata": {"name": "m", "namespace": "tds-cmcc"}, "spec": {}}
    assert render.release_line(unreviewed) == "ModelRelease tds-cmcc/m: not reviewed"


def test_the_check_probe_is_a_proposal_the_webhook_must_refuse() -> None:
    probe = render.probe_contract("tds-check-1")
    assert probe["kind"] == "DataContract"
    spaces = {probe["spec"]["provider"]["space"], probe["spec"]["consumer"]["space"]}
    assert len(spaces) == 2
    assert all(space.startswith("tds-check-nobody") for space in spaces)


def test_completion_offers_commands_subcommands_and_flags() -> None:
    parser = cli.build_parser()
    assert completion.candidates(parser, ["con"]) == ["consent", "contracts"]
    assert completion.candidates(parser, ["release", ""])[:2] == ["approve", "reject"]
    assert {"verify", "checkpoint", "keys"} <= set(completion.candidates(parser, ["audit", ""]))
    assert "--manifest-digest" in completion.candidates(parser, ["release", "approve", "m", "--m"])
    assert "--output" in completion.candidates(parser, ["contracts", "--o"])
    script = completion.script("bash", parser)
    assert "complete -F _kubectl_tds kubectl-tds" in script
    assert "kubectl_complete-tds" in script
    assert completion.script("zsh", parser).startswith(
        "autoload -U +X bashcompinit && bashcompinit\n"
    )
    for command in completion.NAMES:
        assert command in completion.words(parser), command


@pytest.mark.parametrize(
    ("argv", "theirs"),
    [
        (["why", "j", "-o", "json"], False),
        (["why", "j", "--output=yaml"], False),
        (["usage", "a", "b", "-o", "yaml"], False),
        (["usage", "a"], False),
        (["keys", "list", "cmcc", "-o", "json"], False),
        (["propose", "-f", "c.yaml"], False),
        (["consent", "c"], False),
        (["withdraw", "c"], False),
        (["revoke", "c"], False),
        (["consent", "c", "--key", "me.pem"], True),
        (["why", "j"], False),
        (["keys", "add", "cmcc", "--id", "k", "--public-key", "k.pem"], False),
        (["export", "odrl", "c"], False),
        (["audit", "verify", "c"], False),
    ],
)
def test_only_what_needs_the_operators_tools_runs_them(argv: list[str], theirs: bool) -> None:
    assert tools.needs_operator(argv, argv[0]) is theirs
    if {"-o", "--output"} & tools.flags_in(argv) and not theirs:
        parsed = cli.build_parser().parse_args(argv)
        assert parsed.output in render.FORMATS


def test_the_operators_tools_are_not_faked_where_they_are_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tools.importlib.util, "find_spec", lambda name: None)
    code, out, err = run("consent", "c", "--key", "me.pem")
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("error: kubectl tds consent --key needs the operator's tools")
    assert err.count("\n") == 1


def test_help_lists_every_command_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        cli.build_parser().parse_args(["--help"])
    assert ended.value.code == 0
    out = capsys.readouterr().out
    for command in [
        "contracts",
        "version",
        "check",
        "release",
        "completion",
        "why",
        "audit",
        "keys",
        "export",
    ]:
        assert f"    {command}" in out, command
    assert "exit status:" in out
