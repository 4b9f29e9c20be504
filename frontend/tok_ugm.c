/* tok_ugm.c: placeholder, being written. */
#include "frontend/tok_internal.h"
