# Writes OUT, a C file holding every template in DIR as a NUL-terminated
# byte array, and cg_template_text(name) to find one by its file name
# without the extension. A template line "// =grid cpu_NAME" becomes the
# lattice table cpu_NAME of GRIDS (runtime/cpu/quant_iq_grids.c) as
# "RF_CONST <type> rf_NAME[N]", guarded against a second paste, so the CPU's
# table is the only copy in the tree; each template so expanded is also
# written to GEN/NAME.hip for the host test. Run as:
# cmake -DDIR=... -DGRIDS=... -DGEN=... -DOUT=... -P embed_templates.cmake
file(GLOB files RELATIVE ${DIR} ${DIR}/*.hip)
list(SORT files)
file(READ ${GRIDS} grids)
file(MAKE_DIRECTORY ${GEN})
set(body "/* generated from the templates directory by cmake/embed_templates.cmake; do not edit */\n#include <string.h>\n#include \"codegen/templates.h\"\n")
set(table "")
foreach(f ${files})
  string(REGEX REPLACE "\\.hip$" "" name ${f})
  file(READ ${DIR}/${f} text)
  string(REGEX MATCHALL "// =grid cpu_[a-z0-9_]+\n" uses "${text}")
  set(src ${DIR}/${f})
  if(uses)
    foreach(use ${uses})
      string(REGEX REPLACE "// =grid cpu_([a-z0-9_]+)\n" "\\1" g "${use}")
      if(NOT grids MATCHES "const uint(64|32)_t cpu_${g}\\[([0-9]+)\\] = [{]([^}]*)[}];")
        message(FATAL_ERROR "${f}: no table cpu_${g} in ${GRIDS}")
      endif()
      if(CMAKE_MATCH_1 STREQUAL "64")
        set(ctype "unsigned long long")
      else()
        set(ctype "unsigned int")
      endif()
      string(REPLACE "${use}"
             "#ifndef RF_GRID_${g}\n#define RF_GRID_${g} // runtime/cpu/quant_iq_grids.c's cpu_${g}, copied by the build\nRF_CONST ${ctype} rf_${g}[${CMAKE_MATCH_2}] = {${CMAKE_MATCH_3}};\n#endif\n"
             text "${text}")
    endforeach()
    set(src ${GEN}/${f})
    file(WRITE ${src}.tmp "${text}")
    file(RENAME ${src}.tmp ${src})
  endif()
  file(READ ${src} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){24})" "\\1\n" hex "${hex}")
  string(APPEND body "static const unsigned char tmpl_${name}[] = {\n${hex}0};\n")
  string(APPEND table "    {\"${name}\", (const char *)tmpl_${name}},\n")
endforeach()
string(APPEND body "static const struct { const char *name, *text; } templates[] = {\n${table}};\n")
string(APPEND body "const char *cg_template_text(const char *name)\n{\n    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++)\n        if (!strcmp(templates[i].name, name))\n            return templates[i].text;\n    return NULL;\n}\n")
file(WRITE ${OUT}.tmp "${body}")
file(RENAME ${OUT}.tmp ${OUT})
