/*
 * gguf_types.c: GGUF's metadata value types (the tensor types are
 * support/types.c's).
 */
#include "frontend/gguf.h"

const char *gguf_vtype_name(gguf_vtype t)
{
    static const char *names[GGUF_VT_COUNT] = {
        [GGUF_VT_UINT8] = "u8",   [GGUF_VT_INT8] = "i8",     [GGUF_VT_UINT16] = "u16",
        [GGUF_VT_INT16] = "i16",  [GGUF_VT_UINT32] = "u32",  [GGUF_VT_INT32] = "i32",
        [GGUF_VT_FLOAT32] = "f32", [GGUF_VT_BOOL] = "bool",  [GGUF_VT_STRING] = "string",
        [GGUF_VT_ARRAY] = "array", [GGUF_VT_UINT64] = "u64", [GGUF_VT_INT64] = "i64",
        [GGUF_VT_FLOAT64] = "f64",
    };
    return (unsigned)t < GGUF_VT_COUNT ? names[t] : "?";
}

size_t gguf_vtype_size(gguf_vtype t)
{
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
    default: return 0;
    }
}
