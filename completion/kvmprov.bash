# SPDX-License-Identifier: MIT
# bash completion for kvmprov: verbs, options, profile files and --fact keys. Verbs and options
# are read from "kvmprov --help" (and "kvmprov VERB --help"), so new ones complete unchanged.

_kvmprov_help_options() {
  "$1" ${2:+"$2"} --help 2>/dev/null |
    sed -n 's/^ \{1,\}\(-[a-zA-Z],\)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p'
}

_kvmprov_help_verbs() {
  "$1" --help 2>/dev/null | sed -n '/^Subcommands:/,/^$/s/^ \{1,\}\([a-z][a-z-]*\) .*/\1/p'
}

# Profile files (*.yaml, *.yml) and directories to descend into.
_kvmprov_files() {
  local f
  COMPREPLY=()
  while IFS= read -r f; do
    [[ -d $f || $f == *.yaml || $f == *.yml ]] && COMPREPLY+=("$f")
  done < <(compgen -f -- "$1")
  compopt -o filenames 2>/dev/null
}

_kvmprov() {
  local cur prev prog
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  prog=${COMP_WORDS[0]:-kvmprov}

  local verbs facts="cpu_vendor vmx svm hypervisor kernel_release modules_supported systemd kvm_usable cpu_flags"
  verbs=$(_kvmprov_help_verbs "$prog")
  [[ -n $verbs ]] || verbs="check plan apply validate reset version"

  # The verb typed so far, if any; options may stand before or after it.
  local verb="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case " ${verbs//$'\n'/ } " in *" $w "*) verb=$w && break ;; esac
  done

  case $prev in
    --profile)
      _kvmprov_files "$cur"
      return 0
      ;;
    --root)
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      compopt -o filenames 2>/dev/null
      return 0
      ;;
    --fact)
      local key=${cur%%=*}
      if [[ $cur == *=* ]]; then
        local values
        case $key in
          cpu_vendor) values="intel amd hygon zhaoxin centaur" ;;
          vmx | svm | hypervisor | modules_supported | systemd | kvm_usable) values="true false" ;;
          *) values="" ;;
        esac
        mapfile -t COMPREPLY < <(compgen -P "$key=" -W "$values" -- "${cur#*=}")
      else
        mapfile -t COMPREPLY < <(compgen -S "=" -W "$facts" -- "$cur")
        compopt -o nospace 2>/dev/null
      fi
      return 0
      ;;
    --lock-timeout)
      COMPREPLY=()
      return 0
      ;;
  esac

  if [[ $cur == -* ]]; then
    local options
    options=$(_kvmprov_help_options "$prog" "$verb")
    [[ -n $options ]] || options="--help --profile --root --json --quiet --no-color --fact
      --detailed-exitcodes --allow-reload --lock-timeout"
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  elif [[ -z $verb ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
  elif [[ $verb == validate ]]; then
    _kvmprov_files "$cur"
  else
    COMPREPLY=()
  fi
  return 0
}

complete -F _kvmprov kvmprov
