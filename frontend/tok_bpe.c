/* tok_bpe.c: placeholder, being written. */
#include "frontend/tok_internal.h"
