/* tok_unicode.c: placeholder, being written. */
#include "frontend/tok_internal.h"
