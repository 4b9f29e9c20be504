/*
 * llama_dl.h: what the two reference tools (llama_ref, llama_eval) share to
 * reach llama.cpp: the prebuilt libraries of scripts/fetch-reference.sh,
 * dlopen()ed by full path from $REF/lib, and the mirror of the one struct
 * both pass by value.
 *
 * Nothing of llama.cpp is linked or included; the declarations are from
 * include/llama.h of the release node-llama-cpp 3.22.1 bundles (v0.5.0).
 * Failing to open a library or find a symbol ends the tool with status 2,
 * its name on the message.
 */
#ifndef RF_TEST_TOOLS_LLAMA_DL_H
#define RF_TEST_TOOLS_LLAMA_DL_H

#include <stdbool.h>
#include <stdint.h>

typedef int32_t llama_token;
struct llama_model;
struct llama_vocab;

struct llama_model_params { /* mirrors include/llama.h field for field */
    void *devices;
    const void *tensor_buft_overrides;
    int32_t n_gpu_layers;
    int32_t split_mode; /* enums are int-sized */
    int32_t load_mode;
    int32_t lazy_mode;
    int32_t main_gpu;
    const float *tensor_split;
    void *progress_callback;
    void *progress_callback_user_data;
    const void *kv_overrides;
    bool vocab_only, check_tensors, use_extra_bufts, no_host, no_alloc, load_mtp;
};
_Static_assert(sizeof(struct llama_model_params) == 80, "llama_model_params layout");

/* $ROCMFORGE_REF_DIR/lib, else $XDG_CACHE_HOME/rocmforge-ref/lib, else
 * ~/.cache/rocmforge-ref/lib (as tests/test_util.c's test_ref_dir) */
const char *llama_dl_dir(void);
/* dlopen llama_dl_dir()/name, RTLD_NOW | RTLD_LOCAL */
void *llama_dl_open(const char *name);
/* dlsym, never NULL */
void *llama_dl_sym(void *lib, const char *name);

#endif
