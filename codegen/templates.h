/*
 * templates.h: the kernel templates (templates/NAME.hip), built into the
 * binary (cmake/embed_templates.cmake), so a compiled rocmforge needs no
 * files beside it to generate kernels.
 */
#ifndef RF_CODEGEN_TEMPLATES_H
#define RF_CODEGEN_TEMPLATES_H

/* the text of templates/NAME.hip, NULL if there is none */
const char *cg_template_text(const char *name);

#endif
