#!/bin/sh
# tests/bad-inputs/run.sh - the table-driven bad-input test (cases.tsv).
#
# make_inputs.py writes good inputs and one malformed variant per case; each
# row's command must then
#   - exit with the row's status, which must be a documented one (2..10),
#   - print exactly one "error:" line on stderr that names the row's file
#     and contains its text (command-line usage errors, status 2, may print
#     "brainstage: ..." plus the usage text instead), and nothing from a
#     library ("** ERROR" from nifticlib, sanitizer reports),
#   - leave no file in the output folder $O (directories may remain) and
#     change nothing among the inputs $W.
set -u
BS_BIN="${BRAINSTAGE:?run through make check}"
here="${top_srcdir:?}/tests/bad-inputs"
. "${top_srcdir:?}/tests/require_numpy.sh"
root=$(mktemp -d "${TMPDIR:-/tmp}/bs-bad-inputs.XXXXXX")
trap 'chmod -R u+w "$root" 2>/dev/null; rm -rf "$root"' EXIT
W="$root/in"
O="$root/out"
T="$root/scratch"
"$PY" "$here/make_inputs.py" "$W" || { echo "FAIL: make_inputs.py"; exit 1; }
BS="$BS_BIN --quiet"
RUN="$BS run $W/fc.pipeline"
BOLD="$W/sub-01_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz"
CONF="$W/confounds.tsv"
export BS W O T RUN BOLD CONF BS_BIN

# the good inputs must work, or every row below would prove nothing
mkdir -p "$O"
if ! $RUN bold="$BOLD" confounds="$CONF" out="$O" >"$root/good.out" 2>&1 ||
   [ "$(find "$O" -type f | wc -l)" -ne 5 ]; then
    echo "FAIL: the good pipeline run does not succeed: $(cat "$root/good.out")"
    exit 1
fi
rm -rf "$O"

# small_disk KB CMD...: CMD with $O on a KB-sized tmpfs, mounted in a private
# mount namespace (unshare -rm works unprivileged where user namespaces are
# enabled); the files CMD leaves there are listed in $T/left, since the
# mount disappears with the namespace.
small_disk() {
    unshare -rm sh -c 'mount -t tmpfs -o size="$1"k none "$O" || exit 99; shift; "$@"; rc=$?
        find "$O" -type f | sed "s|^$O/||" > "$T/left"; exit $rc' small_disk "$@"
}
mkdir -p "$root/probe"
tmpfs_ok=0
unshare -rm sh -c "mount -t tmpfs -o size=64k none '$root/probe'" 2>/dev/null && tmpfs_ok=1

snapshot() { find "$W" -exec ls -ld --time-style=+%s.%N {} + 2>/dev/null | sort; }
uid=$(id -u)
fails=0 total=0 skipped=0
tab=$(printf '\t')
while IFS="$tab" read -r id needs want names text cmd; do
    case "$id" in ''|'#'*|id) continue ;; esac
    if [ "$needs" = nonroot ] && [ "$uid" -eq 0 ]; then
        echo "skip $id (root ignores folder permissions)"
        skipped=$((skipped + 1))
        continue
    fi
    if [ "$needs" = tmpfs ] && [ "$tmpfs_ok" -eq 0 ]; then
        echo "skip $id (no unprivileged tmpfs mount here: unshare -rm failed)"
        skipped=$((skipped + 1))
        continue
    fi
    total=$((total + 1))
    rm -rf "$O" "$T" && mkdir -p "$O" "$T"
    before=$(snapshot)
    ( eval "$cmd" ) >"$root/stdout" 2>"$root/stderr"
    got=$?
    problems=""
    [ "$got" -eq "$want" ] || problems="$problems; exit $got, want $want"
    [ "$want" -ge 2 ] && [ "$want" -le 10 ] || problems="$problems; expected status $want is not a documented error status"
    nerr=$(grep -c 'error:' "$root/stderr")
    if [ "$nerr" -eq 1 ]; then
        line=$(grep 'error:' "$root/stderr")
    elif [ "$nerr" -eq 0 ] && [ "$want" -eq 2 ]; then
        line=$(head -n 1 "$root/stderr")
        case "$line" in brainstage:*) ;; *) problems="$problems; usage message does not start with 'brainstage:'" ;; esac
    else
        line=""
        problems="$problems; $nerr error lines, want exactly one"
    fi
    case "$line" in *"$text"*) ;; *) problems="$problems; message lacks '$text'" ;; esac
    if [ "$names" != - ]; then
        case "$line" in *"$names"*) ;; *) problems="$problems; message does not name '$names'" ;; esac
    fi
    if grep -q -e '\*\* ERROR' -e 'Sanitizer' -e 'runtime error' "$root/stderr"; then
        problems="$problems; library or sanitizer output on stderr"
    fi
    left=$(find "$O" -type f 2>/dev/null | sed "s|^$O/||" | tr '\n' ' ')
    [ -s "$T/left" ] && left="$left$(tr '\n' ' ' <"$T/left")"
    [ -z "$left" ] || problems="$problems; files left in the output folder: $left"
    [ "$before" = "$(snapshot)" ] || problems="$problems; the inputs folder changed"
    if [ -n "$problems" ]; then
        fails=$((fails + 1))
        echo "FAIL $id${problems}"
        sed 's/^/    stderr: /' "$root/stderr" | head -n 5
    else
        echo "ok   $id (exit $got): $line"
    fi
done <"$here/cases.tsv"
echo "$total cases, $fails failed, $skipped skipped"
[ "$total" -ge 30 ] || { echo "FAIL: the table must hold at least 30 cases"; exit 1; }
[ "$fails" -eq 0 ]
