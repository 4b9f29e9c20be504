/* tok_wpm.c: placeholder, being written. */
#include "frontend/tok_internal.h"
