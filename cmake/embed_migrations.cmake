# Turns a folder of numbered NNNN_name.sql files into a C++ array of {version, name, sql}.
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(fname ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${fname})
  string(REGEX REPLACE "^0+([0-9])" "\\1" version "${version}")  # 0010 is not octal
  file(READ ${f} sql)
  string(LENGTH "${sql}" len)
  set(body "${body}  {${version}, \"${fname}\", R\"twostep_sql(${sql})twostep_sql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from ${DIR}; do not edit.\n#include \"twostep/store/migration.hpp\"\nnamespace twostep::store {\nconst std::vector<Migration> ${NAME} = {\n${body}};\n}\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
