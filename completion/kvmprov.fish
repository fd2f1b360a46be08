# SPDX-License-Identifier: MIT
# fish completion for kvmprov: verbs, options, profile files, --fact keys and values, users.

set -l __kvmprov_verbs check plan apply validate reset version help

# The verb on the command line, if any.
function __kvmprov_verb
    set -l verbs check plan apply validate reset version help
    for w in (commandline -opc)[2..-1]
        if contains -- $w $verbs
            echo $w
            return
        end
    end
end

function __kvmprov_no_verb
    set -l verb (__kvmprov_verb)
    test -z "$verb"
end

function __kvmprov_verb_is
    set -l verb (__kvmprov_verb)
    test "$verb" = $argv[1]
end

function __kvmprov_root_given
    string match -qr -- '^--root(=|$)' (commandline -opc)
end

# --fact KEY=VALUE: the keys with "=", then the values the key takes.
function __kvmprov_facts
    set -l token (commandline -ct | string replace -r -- '^--fact=' '')
    set -l key (string split -m 1 = -- $token)[1]
    if string match -q -- '*=*' $token
        switch $key
            case cpu_vendor
                printf "$key=%s\n" intel amd hygon zhaoxin centaur
            case vmx svm hypervisor modules_supported systemd kvm_usable
                printf "$key=%s\n" true false
        end
    else
        printf '%s=\n' cpu_vendor vmx svm hypervisor kernel_release modules_supported systemd \
            kvm_usable cpu_flags
    end
end

# Profile files (*.yaml, *.yml) and directories to descend into.
function __kvmprov_profiles
    set -l token (commandline -ct | string replace -r -- '^--profile=' '')
    __fish_complete_path $token | string match -r -- '^[^\t]*(?:/|\.ya?ml)(?:\t.*)?$'
end

complete -c kvmprov -f

complete -c kvmprov -n __kvmprov_no_verb -n 'not __kvmprov_root_given' -a check -d 'Tell whether this host can run KVM guests, and why'
complete -c kvmprov -n __kvmprov_no_verb -a plan -d 'Show what apply would change; change nothing'
complete -c kvmprov -n __kvmprov_no_verb -a apply -d 'Converge the host to the profile'
complete -c kvmprov -n __kvmprov_no_verb -a validate -d 'Check a profile file and report every error'
complete -c kvmprov -n __kvmprov_no_verb -a reset -d 'Remove the files kvmprov wrote'
complete -c kvmprov -n __kvmprov_no_verb -a version -d 'Print the version'
complete -c kvmprov -n __kvmprov_no_verb -a help -d 'Print the help of kvmprov, or of VERB'

complete -c kvmprov -s h -l help -d 'Print help and exit'
complete -c kvmprov -l help-all -d 'Print the help of every verb'
complete -c kvmprov -s V -l version -d 'Print the version'
complete -c kvmprov -l live -d 'Act on the running system even where / looks like a chroot or container'
complete -c kvmprov -l profile -x -a '(__kvmprov_profiles)' -d 'Host profile'
# check examines the running system and refuses --root.
complete -c kvmprov -n 'not __kvmprov_verb_is check' -l root -r -a '(__fish_complete_directories)' -d 'Operate on the system image below DIR'
complete -c kvmprov -l json -d 'Print a JSON report'
complete -c kvmprov -l quiet -d 'Print only failures, pending items and the summary'
complete -c kvmprov -l no-color -d 'No colors'
complete -c kvmprov -l color -x -a 'always never auto' -d 'When to color the output'
complete -c kvmprov -l fact -x -a '(__kvmprov_facts)' -d 'Override an observed fact'
complete -c kvmprov -l detailed-exitcodes -d 'Exit 2 for changes, 4 for failures, 6 for both'
complete -c kvmprov -l allow-reload -d 'Reload a loaded module whose options differ, when no guest uses it'
complete -c kvmprov -l lock-timeout -x -d 'Seconds to wait for another run\'s lock'

complete -c kvmprov -n '__kvmprov_verb_is check' -l user -x -a '(__fish_complete_users)' -d 'Whose access to /dev/kvm decides'
complete -c kvmprov -n '__kvmprov_verb_is check' -l log -r -F -d 'nova-compute log to search'
complete -c kvmprov -n '__kvmprov_verb_is reset' -l dry-run -d 'Show what would be removed'
complete -c kvmprov -n '__kvmprov_verb_is validate' -a '(__kvmprov_profiles)'
