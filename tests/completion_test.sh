#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash, zsh and fish completions in the real shells, interactive under tmux: keys are typed as
# a user types them (TAB, or the shell's "insert every match" key for lists), and a key bound in
# each shell writes the edited line to a file and signals a tmux channel that the test waits on,
# so nothing waits on time. bash runs twice, alone and with bash-completion loaded; fish's list
# of matches comes from its own engine (complete -C) as well.
# Usage: completion_test.sh PATH/TO/kvmprov SOURCE_DIR. Exits 77 (skipped) when tmux, zsh or fish
# is missing.
set -u
# No globbing: keys such as "C-x *" are passed as words.
set -f
KVMPROV=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
for tool in tmux zsh fish; do
  command -v "$tool" >/dev/null || skip "$tool missing (apt-get install $tool)"
done
scratch
SOCK=$TMP/tmux.sock
T() { tmux -S "$SOCK" "$@"; }
cleanup_hooks+=('T kill-server 2>/dev/null')

mkdir -p "$TMP/bin" "$TMP/p/sub" "$TMP/home"
ln -s "$KVMPROV" "$TMP/bin/kvmprov"
touch "$TMP/p/a.yaml" "$TMP/p/b.yml" "$TMP/p/c.txt"
P=$TMP/p
verbs=$("$KVMPROV" --help | sed -n '/^Subcommands:/,/^$/s/^ \{1,\}\([a-z][a-z-]*\) .*/\1/p')
options=$("$KVMPROV" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' | sed 's/.*,//; s/^ *//')
facts=$("$KVMPROV" plan --root "$TMP" --fact no_such_fact=1 2>&1 | sed -n 's/.*known facts: //p' | tr -d ',')
[ -n "$verbs" ] && [ -n "$options" ] && [ -n "$facts" ] && ok || bad "kvmprov did not list its verbs, options and facts"

# A shell's start-up: the completion, and a key (C-x C-d) that dumps the line and signals "dumped".
cat >"$TMP/rc.bash" <<EOF
PS1='\$ '
source "$SRC/completion/kvmprov.bash"
_dump() { printf '%s\n' "\$READLINE_LINE" >"$TMP/line"; tmux -S "$SOCK" wait-for -S dumped; }
bind -x '"\C-x\C-d": _dump'
tmux -S "$SOCK" wait-for -S ready
EOF
{
  echo 'source /usr/share/bash-completion/bash_completion'
  cat "$TMP/rc.bash"
} >"$TMP/rc-bash-completion.bash"
mkdir "$TMP/zfunc"
cp "$SRC/completion/_kvmprov" "$TMP/zfunc/"
cat >"$TMP/rc.zsh" <<EOF
PS1='\$ '
fpath=("$TMP/zfunc" \$fpath)
autoload -Uz compinit && compinit -u -D
_dump() { print -r -- "\$BUFFER" >"$TMP/line"; tmux -S "$SOCK" wait-for -S dumped }
zle -N _dump
bindkey '^X^D' _dump
# C-x *: insert every match, as bash's M-* does.
zle -C all-matches complete-word _generic
zstyle ':completion:all-matches:*' completer _all_matches _complete
zstyle ':completion:all-matches:*' insert true
bindkey '^X*' all-matches
tmux -S "$SOCK" wait-for -S ready
EOF
cat >"$TMP/rc.fish" <<EOF
set -g fish_greeting ''
function fish_prompt; echo -n '\$ '; end
source "$SRC/completion/kvmprov.fish"
function __dump; commandline >"$TMP/line"; tmux -S "$SOCK" wait-for -S dumped; end
bind \\cx\\cd __dump
tmux -S "$SOCK" wait-for -S ready
EOF

# start NAME COMMAND RCFILE: an interactive shell in its own tmux window, ready when it signals.
start() {
  T -f /dev/null new-session -d -s "$1" -x 250 -y 50 \
    "env -i HOME=$TMP/home TERM=screen PATH=$TMP/bin:/usr/bin:/bin $2"
  T send-keys -t "$1" "source $3" Enter
  timeout 60 tmux -S "$SOCK" wait-for ready || bad "$1 did not start"
}
# line SESSION TEXT KEY...: types TEXT and the keys, returns the edited line, clears it.
line() {
  local s=$1 text=$2
  shift 2
  T send-keys -t "$s" -l "$text"
  T send-keys -t "$s" "$@" C-x C-d
  timeout 60 tmux -S "$SOCK" wait-for dumped || bad "$s: no answer to [$text]"
  cat "$TMP/line"
  T send-keys -t "$s" C-e C-u
}
# expect SESSION TEXT KEYS WANT
expect() {
  local got
  # shellcheck disable=SC2086
  got=$(line "$1" "$2" $3)
  [ "$got" = "$4" ] && ok || bad "$1: [$2] + $3 gave [$got], expected [$4]"
}
# expect_words SESSION TEXT KEYS WORD...: each WORD is on the line afterwards.
expect_words() {
  local s=$1 text=$2 keys=$3 got
  shift 3
  # shellcheck disable=SC2086
  got=" $(line "$s" "$text" $keys) "
  for w in "$@"; do
    # zsh shows an option that takes its value after "=" as "--root=".
    case $got in *" $w "* | *" $w= "*) ok ;; *) bad "$s: [$text] + $keys: [$w] not in [$got]" ;; esac
  done
}
expect_not() {
  local s=$1 text=$2 keys=$3 w=$4 got
  # shellcheck disable=SC2086
  got=" $(line "$s" "$text" $keys) "
  case $got in *" $w "* | *" $w= "*) bad "$s: [$text] + $keys offered [$w]: [$got]" ;; *) ok ;; esac
}

# --- bash, alone and with bash-completion; M-* inserts every match
for s in bash bash-completion; do
  rc=$TMP/rc.bash
  [ "$s" = bash-completion ] && rc=$TMP/rc-bash-completion.bash
  start "$s" "bash --norc --noprofile -i" "$rc"
  # The bug: bash splits words at "=", and "cpu_vendor=a" completed to "cpu_vendor=apply".
  expect "$s" "kvmprov --fact cpu_vendor=a" Tab "kvmprov --fact cpu_vendor=amd "
  expect "$s" "kvmprov plan --fact vmx=t" Tab "kvmprov plan --fact vmx=true "
  expect "$s" "kvmprov --fact=vmx=t" Tab "kvmprov --fact=vmx=true "
  expect "$s" "kvmprov --fact cpu_v" Tab "kvmprov --fact cpu_vendor="
  expect "$s" "kvmprov --fact cpu_vendor=" M-* "kvmprov --fact cpu_vendor=amd centaur hygon intel zhaoxin "
  # shellcheck disable=SC2086
  expect_words "$s" "kvmprov --fact " M-* $(printf '%s= ' $facts)
  expect "$s" "kvmprov pl" Tab "kvmprov plan "
  expect "$s" "kvmprov --json pl" Tab "kvmprov --json plan "
  # shellcheck disable=SC2086
  expect_words "$s" "kvmprov " M-* $verbs
  expect "$s" "kvmprov plan " Tab "kvmprov plan "
  # An option's value is not the verb.
  expect "$s" "kvmprov --profile plan pl" Tab "kvmprov --profile plan plan "
  # shellcheck disable=SC2086
  expect_words "$s" "kvmprov --" M-* $options
  expect "$s" "kvmprov plan --detailed" Tab "kvmprov plan --detailed-exitcodes "
  # check refuses --root: not offered for it, and check is not offered after it.
  expect "$s" "kvmprov plan --ro" Tab "kvmprov plan --root "
  expect "$s" "kvmprov check --ro" Tab "kvmprov check --ro"
  expect_not "$s" "kvmprov check --" M-* --root
  expect_words "$s" "kvmprov check --" M-* --user --log --json
  expect_not "$s" "kvmprov --root $P " M-* check
  expect "$s" "kvmprov --root $P ch" Tab "kvmprov --root $P ch"
  expect "$s" "kvmprov check --user roo" Tab "kvmprov check --user root "
  expect "$s" "kvmprov --profile $P/" M-* "kvmprov --profile $P/a.yaml $P/b.yml $P/sub "
  expect "$s" "kvmprov --profile=$P/a" Tab "kvmprov --profile=$P/a.yaml "
  expect "$s" "kvmprov validate $P/" M-* "kvmprov validate $P/a.yaml $P/b.yml $P/sub "
  expect "$s" "kvmprov --root $P/" Tab "kvmprov --root $P/sub/"
done
# Without a working kvmprov, the built-in lists still complete.
expect_words bash "/nonexistent/kvmprov " M-* check plan apply validate reset version

# --- zsh; C-x * inserts every match
start zsh "zsh -f -i" "$TMP/rc.zsh"
expect zsh "kvmprov --fact cpu_vendor=a" Tab "kvmprov --fact cpu_vendor=amd "
expect zsh "kvmprov --fact=vmx=t" Tab "kvmprov --fact=vmx=true "
expect zsh "kvmprov --fact cpu_v" Tab "kvmprov --fact cpu_vendor="
expect zsh "kvmprov --fact cpu_vendor=" "C-x *" \
  "kvmprov --fact cpu_vendor=amd cpu_vendor=centaur cpu_vendor=hygon cpu_vendor=intel cpu_vendor=zhaoxin "
# shellcheck disable=SC2086
expect_words zsh "kvmprov --fact " "C-x *" $(printf '%s= ' $facts)
expect zsh "kvmprov pl" Tab "kvmprov plan "
# shellcheck disable=SC2086
expect_words zsh "kvmprov " "C-x *" $verbs
# shellcheck disable=SC2086
expect_words zsh "kvmprov --" "C-x *" $(grep -vx -- -h <<<"$options")
expect zsh "kvmprov plan --ro" Tab "kvmprov plan --root="
expect zsh "kvmprov check --ro" Tab "kvmprov check --ro"
expect_not zsh "kvmprov check --" "C-x *" --root
expect_words zsh "kvmprov check --" "C-x *" --user --log --json
expect zsh "kvmprov --root $P ch" Tab "kvmprov --root $P ch"
expect zsh "kvmprov check --user roo" Tab "kvmprov check --user root "
expect zsh "kvmprov --profile $P/a" Tab "kvmprov --profile $P/a.yaml "
expect zsh "kvmprov validate $P/b" Tab "kvmprov validate $P/b.yml "
expect zsh "kvmprov reset --dr" Tab "kvmprov reset --dry-run "

# --- fish: TAB in the interactive shell, lists from its completion engine
start fish "fish -N -i" "$TMP/rc.fish"
expect fish "kvmprov --fact cpu_vendor=a" Tab "kvmprov --fact cpu_vendor=amd "
expect fish "kvmprov --fact=vmx=t" Tab "kvmprov --fact=vmx=true "
expect fish "kvmprov --fact cpu_v" Tab "kvmprov --fact cpu_vendor="
expect fish "kvmprov pl" Tab "kvmprov plan "
expect fish "kvmprov plan --ro" Tab "kvmprov plan --root "
expect fish "kvmprov check --ro" Tab "kvmprov check --ro"
expect fish "kvmprov --root $P ch" Tab "kvmprov --root $P ch"
expect fish "kvmprov --profile $P/a" Tab "kvmprov --profile $P/a.yaml "
# fishc LINE: the matches fish's engine gives for LINE, one a line, without descriptions.
fishc() {
  env -i HOME="$TMP/home" PATH="$TMP/bin:/usr/bin:/bin" fish -N -c \
    "source $SRC/completion/kvmprov.fish; complete -C '$1'" | cut -f1 | sort | tr '\n' ' '
}
matches() {
  local got
  got=" $(fishc "$1")"
  shift
  for w in "$@"; do
    case $got in *" $w "*) ok ;; *) bad "fish: [$w] not among the matches [$got]" ;; esac
  done
}
[ "$(fishc "kvmprov --fact cpu_vendor=")" = \
  "cpu_vendor=amd cpu_vendor=centaur cpu_vendor=hygon cpu_vendor=intel cpu_vendor=zhaoxin " ] &&
  ok || bad "fish: cpu_vendor values: [$(fishc "kvmprov --fact cpu_vendor=")]"
# shellcheck disable=SC2086
matches "kvmprov --fact " $(printf '%s= ' $facts)
# shellcheck disable=SC2086
matches "kvmprov " $verbs
# shellcheck disable=SC2086
matches "kvmprov plan --" $options
case " $(fishc "kvmprov check --") " in *" --root "*) bad "fish offers --root for check" ;; *) ok ;; esac
case " $(fishc "kvmprov --root $P ") " in *" check "*) bad "fish offers check after --root" ;; *) ok ;; esac
[ "$(fishc "kvmprov --profile $P/")" = "$P/a.yaml $P/b.yml $P/sub/ " ] && ok ||
  bad "fish: profile files: [$(fishc "kvmprov --profile $P/")]"
matches "kvmprov check --user roo" root
matches "kvmprov reset --" --dry-run

finish completion
