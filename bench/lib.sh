# lib.sh: what the side-by-side scripts (serve_bench.sh, batch_bench.sh)
# share; sourced after ROOT is set.

# bench_model MODEL|TYPE: the GGUF path; a weight type alone (q4_k_m, ...)
# names the 1B-shaped model of bench/speed_model.sh (made if missing)
bench_model() {
    case $1 in
    */* | *.gguf) echo "$1" ;;
    *) "$ROOT/bench/speed_model.sh" "$1" ;;
    esac
}

# bench_rocmforge BUILD: rocmforge built there (Release) unless it is
bench_rocmforge() {
    if [ ! -x "$1/rocmforge" ]; then
        cmake -S "$ROOT" -B "$1" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$1" -j"$(nproc)" --target rocmforge >/dev/null
    fi
}

# bench_llama BACKEND TOOL: the bin/ of llama.cpp built for BACKEND (cpu, or
# gpu: CUDA sm_90) from the reference source by bench/llama-build.sh,
# building it when TOOL is missing there
bench_llama() {
    local lb=$ROOT/bench/out/llama-$1
    if [ ! -x "$lb/bin/$2" ]; then
        echo "bench: building llama.cpp ($1) in $lb" >&2
        "$ROOT/bench/llama-build.sh" "$("$ROOT/scripts/fetch-reference.sh")/llama.cpp" "$lb" \
            "$([ "$1" = cpu ] && echo cpu || echo 90)" >/dev/null
    fi
    echo "$lb/bin"
}
