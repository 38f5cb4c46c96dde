#!/usr/bin/env bash
# Instruction counts (callgrind's Ir) per operation for mm_bench_core cases,
# and per free+malloc pair under each diagnostics mode (mm_bench_diag).
#
#   bench/callgrind.sh [BUILD_DIR]        default BUILD_DIR: build
#
# Each case runs `mm_bench_core --only WORKLOAD:ALLOCATOR` once under
# valgrind --tool=callgrind with --toggle-collect on one function, so only
# that function (and what it calls) is counted:
#   - bench_free_<allocator>: the non-inlined wrapper around the steady-state
#     free of the churn workload, called only while 50,000 blocks are live;
#     Ir / frees = instructions per free at 50,000 live blocks.
#   - timed_*: the timed part of a run (timed_churn, timed_trace_replay);
#     Ir / ops = instructions per allocator call.
#   - diag_pairs_*: the steady-state free+malloc pairs of mm_bench_diag's
#     churn, once per diagnostics mode (`--only churn:MODE`), with 1,000 live
#     blocks of 64 B and with 50,000 live blocks of 16..4096 B; Ir / pairs =
#     instructions per pair. Skipped when mm_bench_diag is not built.
#   - timed_forest_*: one whole run of mm_bench_forest's forest workload per
#     allocator that is built in (malloc, mm, mimalloc, talloc), printed with
#     its ratio to malloc's.
# Counts come from the "totals:" line of the callgrind output file; ops and
# frees from the "only ..." line the program prints. Shorter runs than the
# timed benchmark keep the legacy cases to about a minute each: override with
# CG_FREE_OPS, CG_CHURN1K_OPS, CG_CHURN50K_OPS, CG_DIAG_PAIRS.
set -euo pipefail

build=${1:-build}
core="$build/bench/mm_bench_core"
diag="$build/bench/mm_bench_diag"
forest="$build/bench/mm_bench_forest"
free_ops=${CG_FREE_OPS:-70000}        # 50,000 fill + 10,000 free/alloc pairs
churn1k_ops=${CG_CHURN1K_OPS:-200000}
churn50k_ops=${CG_CHURN50K_OPS:-100000}
diag_pairs=${CG_DIAG_PAIRS:-10000}     # steady-state pairs per diagnostics case
diag_modes="off guards poison full sites at-off trace limit peak-step-1"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "callgrind.sh: valgrind not found" >&2
    exit 2
fi
if [[ ! -x "$core" ]]; then
    echo "callgrind.sh: $core not found; build first (cmake --build $build --target mm_bench_core)" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1234567 -> 1,234,567
commas() {
    local n=$1 out=""
    while ((${#n} > 3)); do
        out=",${n: -3}$out"
        n=${n:0:${#n}-3}
    done
    echo "$n$out"
}

# run_case OUTVAR ONLY TOGGLE [ARGS...]: sets OUTVAR_ir, OUTVAR_ops, OUTVAR_frees
# (the program is $prog: mm_bench_core unless set otherwise)
prog=$core
run_case() {
    local var=$1 only=$2 toggle=$3
    shift 3
    local out="$tmp/$var.cg" log="$tmp/$var.log"
    echo "  callgrind: $only (--toggle-collect=$toggle) $*" >&2
    if ! valgrind -q --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect="$toggle" "$prog" --only "$only" "$@" >"$log" 2>"$tmp/$var.err"; then
        echo "callgrind.sh: $only failed:" >&2
        cat "$tmp/$var.err" "$log" >&2
        exit 1
    fi
    local line ir
    line=$(grep '^only ' "$log" || true)
    ir=$(grep -E '^(totals|summary):' "$out" | head -n 1 | awk '{print $2}')
    printf -v "${var}_ir" '%s' "${ir:-0}"
    printf -v "${var}_ops" '%s' "$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")"
    printf -v "${var}_frees" '%s' "$(sed -n 's/.* frees=\([0-9]*\).*/\1/p' <<<"$line")"
    printf -v "${var}_status" '%s' "$(sed -n 's/.* status=\([a-z]*\).*/\1/p' <<<"$line")"
}

# per NUM DEN: NUM / DEN with one decimal
per() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else printf "n/a" }'
}

row() { # case allocator count what ir
    local c=$1 a=$2 n=$3 what=$4 ir=$5
    printf '%-22s %-8s %12s %-6s %16s %14s\n' "$c" "$a" "$(commas "$n")" "$what" "$(commas "$ir")" \
        "$(per "$ir" "$n")"
}

echo "Running callgrind on $core (valgrind $(valgrind --version | sed 's/valgrind-//'))" >&2
run_case free_mm churn50k:mm bench_free_mm --ops "$free_ops"
run_case free_legacy churn50k:legacy bench_free_legacy --ops "$free_ops"
for a in malloc mm legacy; do
    run_case "c1k_$a" "churn1k:$a" 'timed_*' --ops "$churn1k_ops"
    run_case "c50k_$a" "churn50k:$a" 'timed_*' --ops "$churn50k_ops"
    run_case "tmm_$a" "trace-mm:$a" 'timed_*'
done
have_diag=0
if [[ -x "$diag" ]]; then
    have_diag=1
    prog=$diag
    for m in $diag_modes; do
        v=${m//-/_}
        run_case "d64_$v" "churn:$m" 'diag_pairs_*' --live 1000 --size 64 --ops $((1000 + 2 * diag_pairs))
        run_case "dmix_$v" "churn:$m" 'diag_pairs_*' --ops $((50000 + 2 * diag_pairs))
    done
    prog=$core
else
    echo "callgrind.sh: $diag not built; the diagnostics cases are skipped" >&2
fi

# The forest workload, whole runs (timed_forest_*: the default 3,000 forests,
# a context reset per forest for mm), through each allocator that is built in.
forest_allocs=""
if [[ -x "$forest" ]]; then
    prog=$forest
    for a in malloc mm mimalloc talloc; do
        if "$forest" --only "forest:$a" --ops 1 >/dev/null 2>&1; then
            run_case "forest_$a" "forest:$a" "timed_forest_$a"
            forest_allocs="$forest_allocs $a"
        fi
    done
    prog=$core
else
    echo "callgrind.sh: $forest not built; the forest workload is skipped" >&2
fi

echo
echo "callgrind instruction counts (Ir) of the measured code; lower is better"
printf '%-22s %-8s %12s %-6s %16s %14s\n' "case" "alloc" "count" "of" "Ir" "Ir per op"
printf '%s\n' "-----------------------------------------------------------------------------------"
row "free @ 50,000 live" mm "$free_mm_frees" frees "$free_mm_ir"
row "free @ 50,000 live" legacy "$free_legacy_frees" frees "$free_legacy_ir"
echo
for w in c1k c50k tmm; do
    case $w in
        c1k) name=churn1k ;;
        c50k) name=churn50k ;;
        tmm) name=trace-mm ;;
    esac
    for a in malloc mm legacy; do
        v="${w}_${a}"
        ir_v="${v}_ir"
        ops_v="${v}_ops"
        st_v="${v}_status"
        if [[ "${!st_v}" != ok ]]; then
            printf '%-22s %-8s %12s\n' "$name" "$a" "${!st_v:-error}"
            continue
        fi
        row "$name" "$a" "${!ops_v}" ops "${!ir_v}"
    done
    echo
done

mm_free=$(per "$free_mm_ir" "$free_mm_frees")
legacy_free=$(per "$free_legacy_ir" "$free_legacy_frees")
ratio=$(awk -v a="$legacy_free" -v b="$mm_free" 'BEGIN { if (b > 0) printf "%.0f", a / b; else printf "n/a" }')
echo "free at 50,000 live blocks: legacy / mm = ${ratio}x fewer instructions for mm (target >= 200x)"
echo "(churn runs here are shorter than the timed ones: churn1k $(commas "$churn1k_ops") ops," \
    "churn50k $(commas "$churn50k_ops") ops, of which 50,000 are the fill)"

if [[ -n "$forest_allocs" ]]; then
    echo
    echo "forest workload (mm_bench_forest, timed_forest_*: whole runs of the default plan)"
    printf '%-10s %16s %10s\n' "allocator" "Ir" "vs malloc"
    for a in $forest_allocs; do
        ir_v="forest_${a}_ir"
        printf '%-10s %16s %9sx\n' "$a" "$(commas "${!ir_v}")" \
            "$(awk -v a="${!ir_v}" -v b="${forest_malloc_ir:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "n/a" }')"
    done
    echo "(target for mm: <= 0.45x malloc, every statistic exact; issue 14)"
fi

if ((have_diag)); then
    echo
    echo "diagnostics modes: Ir per free+malloc pair (mm_bench_diag churn, diag_pairs_*; lower is better)"
    printf '%-26s %-12s %10s %14s %12s %8s\n' "case" "mode" "pairs" "Ir" "Ir per pair" "vs off"
    printf '%s\n' "-----------------------------------------------------------------------------------"
    for w in d64 dmix; do
        case $w in
            d64) name="64 B, 1,000 live" ;;
            dmix) name="16..4096 B, 50,000 live" ;;
        esac
        off_ir_v="${w}_off_ir"
        off_n_v="${w}_off_frees"
        off_per=$(per "${!off_ir_v}" "${!off_n_v}")
        for m in $diag_modes; do
            v="${w}_${m//-/_}"
            ir_v="${v}_ir"
            n_v="${v}_frees"
            st_v="${v}_status"
            if [[ "${!st_v}" != ok ]]; then
                printf '%-26s %-12s %10s\n' "$name" "$m" "${!st_v:-error}"
                continue
            fi
            p=$(per "${!ir_v}" "${!n_v}")
            printf '%-26s %-12s %10s %14s %12s %7sx\n' "$name" "$m" "$(commas "${!n_v}")" \
                "$(commas "${!ir_v}")" "$p" \
                "$(awk -v a="$p" -v b="$off_per" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }')"
        done
        echo
    done
fi
