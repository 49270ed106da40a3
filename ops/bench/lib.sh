# lib.sh — sourced by the bench scripts (directly, or through service.sh): what every bench does
# around its measurements — read its options, check its tools, build, pick loopback ports, pin
# cores — and the markdown tables of its report.
# shellcheck shell=bash

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port_open() { python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"; }

# need_tools NAME HINT TOOL...: exits 2 with "NAME: 'TOOL' not foundHINT" on stderr for the first
# TOOL not on PATH.
need_tools() {
  local name=$1 hint=$2 tool
  shift 2
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: '$tool' not found$hint" >&2; exit 2; }
  done
}

# build_release ROOT WHAT CARGO_ARGS...: "building WHAT (release)..." on stderr, then a quiet
# release build of the workspace at ROOT with CARGO_ARGS (the packages or binaries).
build_release() {
  local root=$1 what=$2
  shift 2
  echo "building $what (release)..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" "$@"
}

# pin_cores PINNING: with 2+ cores, server_pin="taskset -c 0", client_pin="taskset -c 1" and
# pinning=PINNING (how the report names that split); else both pins empty and pinning says so.
# shellcheck disable=SC2034 # the pins and pinning are the caller's
pin_cores() {
  if [ "$(nproc)" -ge 2 ]; then
    server_pin="taskset -c 0"; client_pin="taskset -c 1"; pinning=$1
  else
    server_pin=""; client_pin=""; pinning="not pinned (1 core)"
  fi
}

# md_table HEADER [ROW...]: a markdown table: HEADER ("| a | b |"), its |---| line, the ROWs
# (an empty line for none).
md_table() {
  local header=$1 sep
  shift
  # shellcheck disable=SC2001 # a bracket-expression run: plain ${//} has no `+`
  sep=$(sed 's/[^|][^|]*/---/g' <<<"$header")
  printf '%s\n' "$header" "$sep"
  printf '%s\n' "$@"
}

# md_more HEADER [ROW...]: when there are ROWs, an empty line and their md_table; else nothing.
md_more() {
  [ $# -gt 1 ] || return 0
  echo
  md_table "$@"
}

# git_rev ROOT: the short commit of the checkout at ROOT, or "?".
git_rev() { git -C "$1" rev-parse --short HEAD 2>/dev/null || echo '?'; }

# parse_options NAME HELP SPEC... -- ARG...: sets the variables the SPECs name from the ARGs.
# A SPEC "--opt=var" takes a value (var=the next ARG); "--opt=var=value" is a flag (var=value).
# -h/--help prints the lines HELP (a sed address, e.g. '2,24p') of $0 and exits 0; any other
# ARG exits 2 with "NAME: unknown argument 'ARG' (see --help)".
parse_options() {
  local _po_name=$1 _po_help=$2 _po_arg _po_spec _po_target
  local -a _po_specs=()
  shift 2
  while [ "$1" != -- ]; do _po_specs+=("$1"); shift; done
  shift
  while [ $# -gt 0 ]; do
    _po_arg=$1
    case "$_po_arg" in -h|--help) sed -n "$_po_help" "$0"; exit 0 ;; esac
    for _po_spec in "${_po_specs[@]}"; do
      [ "${_po_spec%%=*}" = "$_po_arg" ] || continue
      _po_target=${_po_spec#*=}
      if [[ $_po_target == *=* ]]; then
        printf -v "${_po_target%%=*}" '%s' "${_po_target#*=}"; shift
      else
        printf -v "$_po_target" '%s' "$2"; shift 2
      fi
      continue 2
    done
    echo "$_po_name: unknown argument '$_po_arg' (see --help)" >&2; exit 2
  done
}
