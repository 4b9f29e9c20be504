/* tok_spm.c: placeholder, being written. */
#include "frontend/tok_internal.h"
