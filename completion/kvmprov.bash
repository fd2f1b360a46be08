# SPDX-License-Identifier: MIT
# bash completion for kvmprov: verbs, options, profile files, --fact keys and values, users. Verbs
# and options are read from "kvmprov --help" (and "kvmprov VERB --help"), so new ones complete
# unchanged.

_kvmprov_help_options() {
  "$1" ${2:+"$2"} --help 2>/dev/null |
    sed -n 's/^ \{1,\}\(-[a-zA-Z],\)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p'
}

# Options that take a value ("--profile FILE"), as --help shows them.
_kvmprov_help_value_options() {
  "$1" --help 2>/dev/null | sed -n 's/^ \{1,\}\(--[a-z][a-z0-9-]*\) [A-Z].*/\1/p'
}

_kvmprov_help_verbs() {
  "$1" --help 2>/dev/null | sed -n '/^Subcommands:/,/^$/s/^ \{1,\}\([a-z][a-z-]*\) .*/\1/p'
}

# Profile files (*.yaml, *.yml) and directories to descend into.
_kvmprov_files() {
  local f
  while IFS= read -r f; do
    [[ -d $f || $f == *.yaml || $f == *.yml ]] && COMPREPLY+=("$f")
  done < <(compgen -f -- "$1")
  compopt -o filenames 2>/dev/null
}

# Values for --fact: KEY= while the key is typed, then KEY=VALUE.
_kvmprov_facts() {
  local facts="cpu_vendor vmx svm hypervisor kernel_release modules_supported systemd kvm_usable cpu_flags"
  if [[ $1 == *=* ]]; then
    local key=${1%%=*} values=""
    case $key in
      cpu_vendor) values="intel amd hygon zhaoxin centaur" ;;
      vmx | svm | hypervisor | modules_supported | systemd | kvm_usable) values="true false" ;;
    esac
    mapfile -t COMPREPLY < <(compgen -P "$key=" -W "$values" -- "${1#*=}")
  else
    mapfile -t COMPREPLY < <(compgen -S "=" -W "$facts" -- "$1")
    compopt -o nospace 2>/dev/null
  fi
}

# The value of option $1, being typed as $2.
_kvmprov_value() {
  case $1 in
    --profile) _kvmprov_files "$2" ;;
    --root)
      mapfile -t COMPREPLY < <(compgen -d -- "$2")
      compopt -o filenames 2>/dev/null
      ;;
    --fact) _kvmprov_facts "$2" ;;
    --color) mapfile -t COMPREPLY < <(compgen -W "always never auto" -- "$2") ;;
    --user) mapfile -t COMPREPLY < <(compgen -u -- "$2") ;;
    --log)
      mapfile -t COMPREPLY < <(compgen -f -- "$2")
      compopt -o filenames 2>/dev/null
      ;;
  esac
}

_kvmprov() {
  # kvmprov's own words: the line up to the cursor split at blanks. bash's COMP_WORDS are split at
  # every character of COMP_WORDBREAKS as well, so "--fact cpu_vendor=a" is four words there and
  # "a" would complete as a verb.
  local line=${COMP_LINE:0:COMP_POINT} words
  read -ra words <<<"$line"
  [[ ${#words[@]} -eq 0 || $line == *[[:space:]] ]] && words+=("")
  local cur=${words[-1]} prev="" prog=${words[0]:-kvmprov}
  ((${#words[@]} > 1)) && prev=${words[-2]}
  # The program as typed, "~/bin/kvmprov" included (completion sees the tilde unexpanded).
  # shellcheck disable=SC2088
  [[ $prog == "~/"* ]] && prog=$HOME/${prog#"~/"}
  COMPREPLY=()

  local verbs takes_value
  verbs=$(_kvmprov_help_verbs "$prog")
  [[ -n $verbs ]] || verbs="check plan apply validate reset version"
  takes_value=$(_kvmprov_help_value_options "$prog")
  [[ -n $takes_value ]] || takes_value="--profile --root --fact --lock-timeout --color"
  takes_value+=" --user --log"

  # The verb typed so far, if any (options may stand before or after it; an option's value is
  # never a verb), and whether --root was given: check refuses it.
  local verb="" root=0 i w
  for ((i = 1; i < ${#words[@]} - 1; i++)); do
    w=${words[i]}
    case $w in --root | --root=*) root=1 ;; esac
    if [[ " ${takes_value//$'\n'/ } " == *" $w "* ]]; then
      ((i++))
    elif [[ -z $verb && " ${verbs//$'\n'/ } " == *" $w "* ]]; then
      verb=$w
    fi
  done

  if [[ " ${takes_value//$'\n'/ } " == *" $prev "* ]]; then
    _kvmprov_value "$prev" "$cur"
  elif [[ $cur == --*=* ]]; then
    _kvmprov_value "${cur%%=*}" "${cur#*=}"
    COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}")
  elif [[ $cur == -* ]]; then
    local options
    options=$(_kvmprov_help_options "$prog" "$verb")
    [[ -n $options ]] || options="--help --profile --root --json --quiet --no-color --color --fact
      --detailed-exitcodes --allow-reload --lock-timeout"
    [[ $verb == check ]] && options=$(tr -s ' \n' '\n' <<<"$options" | grep -vx -- --root)
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  elif [[ -z $verb ]]; then
    ((root)) && verbs=$(tr -s ' \n' '\n' <<<"$verbs" | grep -vx check)
    mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
  elif [[ $verb == validate ]]; then
    _kvmprov_files "$cur"
  fi

  # readline replaces only the text after the last word-break character ("=", ":"), so drop
  # what precedes it from every candidate: "cpu_vendor=a" completes to "amd", not "apply".
  if [[ $cur == *["$COMP_WORDBREAKS"]* ]]; then
    local typed=${cur%"${cur##*["$COMP_WORDBREAKS"]}"}
    COMPREPLY=("${COMPREPLY[@]#"$typed"}")
  fi
  return 0
}

complete -F _kvmprov kvmprov
