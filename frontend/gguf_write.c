/* gguf_write.c: placeholder, being written. */
#include "frontend/tok_internal.h"
