/* tok_vocab.c: placeholder, being written. */
#include "frontend/tok_internal.h"
