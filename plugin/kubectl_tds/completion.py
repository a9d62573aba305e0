"""Shell completion of `kubectl tds`: commands, their flags and the names of your objects.

Commands and flags come from the command line's own parser, so that they never drift apart; the
names of contracts, releases and jobs are read from your namespace through kubectl.
"""

from __future__ import annotations

import argparse
from typing import Final

from kubectl_tds.failures import Failure
from kubectl_tds.kubectl import Connection, current_namespace, run

SHELLS: Final = ("bash", "zsh")
NAMES: Final = {
    "contracts": "contracts.tds.io",
    "status": "contracts.tds.io",
    "consent": "contracts.tds.io",
    "withdraw": "contracts.tds.io",
    "revoke": "contracts.tds.io",
    "usage": "contracts.tds.io",
    "audit verify": "contracts.tds.io",
    "audit checkpoint": "contracts.tds.io",
    "export odrl": "contracts.tds.io",
    "why": "trainingjobs.tds.io",
    "export prov": "trainingjobs.tds.io",
    "release approve": "modelreleases.tds.io",
    "release reject": "modelreleases.tds.io",
}
"""Which objects' names complete the argument of each command (read in your namespace)."""


def words(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command (`release approve` for nested ones) and the words that may follow it; the
    top level is under ''."""
    table: dict[str, list[str]] = {}

    def walk(prefix: str, current: argparse.ArgumentParser) -> None:
        options = [o for action in current._actions for o in action.option_strings]
        children: list[str] = []
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    children.append(name)
                    walk(f"{prefix} {name}".strip(), child)
            elif action.choices and not action.option_strings:
                children += [str(choice) for choice in action.choices]
        table[prefix] = sorted(children) + sorted(options)

    walk("", parser)
    return table


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for `shell`: `source <(kubectl tds completion bash)`."""
    table = words(parser)
    cases = "\n".join(
        f'    "{command}") candidates="{" ".join(following)}" ;;'
        for command, following in table.items()
    )
    body = f"""_kubectl_tds() {{
  local path="" word candidates
  for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
    case "$word" in
      -*|tds) ;;
      *) case "${{path:+$path }}$word" in
           {"|".join(f'"{c}"' for c in table if c)}) path="${{path:+$path }}$word" ;;
         esac ;;
    esac
  done
  case "$path" in
{cases}
  esac
  candidates="$candidates $(kubectl_complete-tds "${{COMP_WORDS[@]:1:COMP_CWORD}}" 2>/dev/null \\
    | grep -v '^:' | grep -v '^-')"
  COMPREPLY=($(compgen -W "$candidates" -- "${{COMP_WORDS[COMP_CWORD]}}"))
}}
complete -F _kubectl_tds kubectl-tds
complete -F _kubectl_tds kubectl_tds"""
    if shell == "zsh":
        return f"autoload -U +X bashcompinit && bashcompinit\n{body}"
    return body


def path_of(table: dict[str, list[str]], typed: list[str]) -> str:
    """The command that the words before the last one name ('' for none yet)."""
    path = ""
    for word in typed[:-1]:
        if word.startswith("-"):
            continue
        longer = f"{path} {word}".strip()
        if longer in table:
            path = longer
    return path


def candidates(
    parser: argparse.ArgumentParser, typed: list[str], connection: Connection | None = None
) -> list[str]:
    """The words that may complete the last of `typed` (the words after `kubectl tds`): the
    command's subcommands and flags, and the names of the objects it takes."""
    table = words(parser)
    path = path_of(table, typed)
    current = typed[-1] if typed else ""
    found = [word for word in table.get(path, []) if word.startswith(current)]
    if path in NAMES and connection is not None and not current.startswith("-"):
        found += [name for name in names(connection, NAMES[path]) if name.startswith(current)]
    return found


def names(connection: Connection, resource: str) -> list[str]:
    """The names of `resource` in the caller's namespace; none if they cannot be read."""
    namespace = current_namespace(connection)
    template = "{range .items[*]}{.metadata.name}{'\\n'}{end}"
    try:
        listed = run(connection, ["get", resource, "-n", namespace, "-o", f"jsonpath={template}"])
    except Failure:
        return []
    return sorted(line for line in listed.splitlines() if line)
