#!/usr/bin/env bash
# Runs one case of tests/wrong/wrong.c under one tool and asserts the outcome
# (one ctest test per case and tool; tests/wrong/CMakeLists.txt).
#   run.sh memcheck PROGRAM CASE   first runs CASE with no tool (it must exit
#       0: a wrong case is silent without a tool and never crashes), then
#       under valgrind --tool=memcheck --error-exitcode=99 --leak-check=full.
#   run.sh asan PROGRAM CASE       PROGRAM built with -fsanitize=address.
# A wrong case passes when the tool exits with its error status and its log
# holds a report of the expected kind whose stack names the case's own
# function (the faulting access, or for the leak the allocating function
# make_halos), and when every other error in the log names it too (an
# error inside the library is a failure, not noise). A clean twin (CASE
# ending in _clean) passes when the tool reports nothing and the exit is 0.
#
# Expected reports, per case:
#   case                 memcheck                                 ASan (any of)
#   read_after_reset     Invalid read                             use-after-poison, heap-use-after-free
#   write_after_reset    Invalid write                            use-after-poison, heap-use-after-free
#   read_after_destroy   Invalid read                             use-after-poison, heap-use-after-free
#   write_after_destroy  Invalid write                            use-after-poison, heap-use-after-free
#   write_past_end       Invalid write                            use-after-poison, heap-buffer-overflow
#   write_into_slack     Invalid write                            use-after-poison, heap-buffer-overflow
#   uninit_branch        Conditional jump or move ... uninit.     (memcheck only: ASan has no shadow
#                                                                  for definedness)
#   context_leak         definitely/possibly lost, at make_halos  (memcheck only: LeakSanitizer scans
#                                                                  malloc'd blocks, not chunk memory)
# ASan reports memory poisoned with ASAN_POISON_MEMORY_REGION as
# use-after-poison whatever the misuse; heap-use-after-free and
# heap-buffer-overflow are accepted in case the library gives ASan real
# allocations to track. A SEGV or any other kind is a failure.
set -uo pipefail
tool=${1:?usage: run.sh memcheck|asan PROGRAM CASE}
prog=${2:?usage: run.sh memcheck|asan PROGRAM CASE}
case=${3:?usage: run.sh memcheck|asan PROGRAM CASE}
base=${case%_clean}
clean=0
[ "$base" != "$case" ] && clean=1
log=$(mktemp "${TMPDIR:-/tmp}/mm-wrong-$tool-$case.XXXXXX")
trap 'rm -f "$log"' EXIT

fail() {
    echo "FAIL: $tool $case: $*"
    echo "---- log ($log)"
    cat "$log"
    exit 1
}
pass() {
    echo "ok: $tool $case: $*"
    exit 0
}

# the function whose stack frame a wrong case's report must show
fn=$base
[ "$base" = context_leak ] && fn=make_halos

case $tool in
memcheck)
    case $base in
    read_after_reset | read_after_destroy) kind="Invalid read of size" ;;
    write_after_reset | write_after_destroy | write_past_end | write_into_slack) kind="Invalid write of size" ;;
    uninit_branch) kind="Conditional jump or move depends on uninitialised value" ;;
    context_leak) kind="are (definitely|possibly) lost in loss record" ;;
    *) echo "run.sh: unknown case $case"; exit 2 ;;
    esac
    # no tool: silent and no crash, wrong or clean
    rc=0
    "$prog" "$case" >"$log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || fail "without a tool the program exited $rc (it must run silently and exit 0)"
    rc=0
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --num-callers=40 \
        --log-file="$log" "$prog" "$case" >/dev/null 2>&1 || rc=$?
    if [ $clean -eq 1 ]; then
        [ $rc -eq 0 ] || fail "memcheck exited $rc on a clean twin (expected 0)"
        grep -q "ERROR SUMMARY: 0 errors" "$log" || fail "no 'ERROR SUMMARY: 0 errors' in the log"
        pass "no memcheck error, no leak"
    fi
    [ $rc -ne 0 ] || fail "memcheck exited 0, expected 99 (--error-exitcode): the misuse was not seen" \
        "(are the Valgrind mempool requests in src/ in place?)"
    [ $rc -eq 99 ] || fail "memcheck exited $rc, expected 99 (--error-exitcode): the run did not finish normally"
    # one paragraph per report once the "==pid== " prefixes are gone; a report
    # is a paragraph with a stack ("at 0x...")
    reports=$(sed -E 's/^==[0-9]+== ?//' "$log" | awk -v RS= -v ORS='\n\036\n' '/\n +at 0x/')
    match=$(printf '%s' "$reports" | awk -v RS='\036' -v k="$kind" -v f="$fn" \
        '$0 ~ k && index($0, f) { n++ } END { print n + 0 }')
    other=$(printf '%s' "$reports" | awk -v RS='\036' -v f="$fn" \
        '/at 0x/ && !index($0, f) { n++ } END { print n + 0 }')
    [ "$match" -ge 1 ] || fail "no memcheck report '$kind' naming $fn"
    [ "$other" -eq 0 ] || fail "$other memcheck report(s) that do not name $fn (errors elsewhere)"
    pass "memcheck exited 99 with '$kind' at $fn ($match report(s))"
    ;;
asan)
    case $base in
    read_after_reset | read_after_destroy) kinds="use-after-poison|heap-use-after-free"; dir=READ ;;
    write_after_reset | write_after_destroy) kinds="use-after-poison|heap-use-after-free"; dir=WRITE ;;
    write_past_end | write_into_slack) kinds="use-after-poison|heap-buffer-overflow"; dir=WRITE ;;
    uninit_branch | context_leak) echo "run.sh: $case is memcheck only"; exit 2 ;;
    *) echo "run.sh: unknown case $case"; exit 2 ;;
    esac
    rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$prog" "$case" >"$log" 2>&1 || rc=$?
    if [ $clean -eq 1 ]; then
        [ $rc -eq 0 ] || fail "the ASan build exited $rc on a clean twin (expected 0)"
        ! grep -q "ERROR: AddressSanitizer" "$log" || fail "ASan reported an error on a clean twin"
        pass "no ASan report"
    fi
    [ $rc -ne 0 ] || fail "the ASan build exited 0: the misuse was not seen (is the chunk memory poisoned in src/?)"
    grep -qE "ERROR: AddressSanitizer: ($kinds) on address" "$log" ||
        fail "no ASan report of kind $kinds (got: $(grep -m1 -o 'ERROR: AddressSanitizer: [a-z-]*' "$log" || echo none))"
    grep -qE "^$dir of size [0-9]+ at " "$log" || fail "the ASan report is not a $dir"
    # the faulting frame (#0) is the case's own function
    grep -qE "^ +#0 0x[0-9a-f]+ in ${fn}[ .]" "$log" || fail "the ASan report's frame #0 is not $fn"
    pass "ASan: $(grep -m1 -oE "($kinds)" "$log") on a $dir at $fn, exit $rc"
    ;;
*)
    echo "usage: run.sh memcheck|asan PROGRAM CASE"
    exit 2
    ;;
esac
