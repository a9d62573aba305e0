# Shared by every script in hack/: the repository's paths, the caches, and one log function.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Built tools are cached per version outside the repository, so a new clone reuses them.
cache_home=${XDG_CACHE_HOME:-$HOME/.cache}
HUB_CACHE_DIR=${HUB_CACHE_DIR:-$cache_home/tds-hub}
TOOLS_CACHE_DIR=$cache_home/tds-tools

# "[<log_tag> HH:MM:SS] message" on stderr; a script sets log_tag to its name before sourcing.
log() { printf '[%s %s] %s\n' "${log_tag:-hack}" "$(date +%H:%M:%S)" "$*" >&2; }
