"""Shell completion of `kubectl tds` (and `kubectl-tds`): commands and their flags, made from
the command line's own parser so that they never drift apart."""

from __future__ import annotations

import argparse
from typing import Final

SHELLS: Final = ("bash", "zsh")


def words(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each command (`audit verify` for nested ones) and the words that may follow it; the
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
  COMPREPLY=($(compgen -W "$candidates" -- "${{COMP_WORDS[COMP_CWORD]}}"))
}}
complete -F _kubectl_tds kubectl-tds
complete -F _kubectl_tds kubectl_tds"""
    if shell == "zsh":
        return f"autoload -U +X bashcompinit && bashcompinit\n{body}"
    return body


def candidates(table: dict[str, list[str]], typed: list[str]) -> list[str]:
    """The words that may complete the last of `typed` (the words after `kubectl tds`)."""
    path = ""
    for word in typed[:-1]:
        if word.startswith("-"):
            continue
        longer = f"{path} {word}".strip()
        if longer in table:
            path = longer
    current = typed[-1] if typed else ""
    return [word for word in table.get(path, []) if word.startswith(current)]
