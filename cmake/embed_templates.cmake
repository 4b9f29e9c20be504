# Writes OUT, a C file holding every template in DIR as a NUL-terminated
# byte array, and cg_template_text(name) to find one by its file name
# without the extension. Run as: cmake -DDIR=... -DOUT=... -P embed_templates.cmake
file(GLOB files RELATIVE ${DIR} ${DIR}/*.hip)
list(SORT files)
set(body "/* generated from the templates directory by cmake/embed_templates.cmake; do not edit */\n#include <string.h>\n#include \"codegen/templates.h\"\n")
set(table "")
foreach(f ${files})
  string(REGEX REPLACE "\\.hip$" "" name ${f})
  file(READ ${DIR}/${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){24})" "\\1\n" hex "${hex}")
  string(APPEND body "static const unsigned char tmpl_${name}[] = {\n${hex}0};\n")
  string(APPEND table "    {\"${name}\", (const char *)tmpl_${name}},\n")
endforeach()
string(APPEND body "static const struct { const char *name, *text; } templates[] = {\n${table}};\n")
string(APPEND body "const char *cg_template_text(const char *name)\n{\n    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++)\n        if (!strcmp(templates[i].name, name))\n            return templates[i].text;\n    return NULL;\n}\n")
file(WRITE ${OUT}.tmp "${body}")
file(RENAME ${OUT}.tmp ${OUT})
