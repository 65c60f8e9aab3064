# Turns a service's OpenAPI document (INPUT, JSON) into a C source (OUTPUT) that defines
# ev_openapi_document (see libs/include/ev/openapi.h), so that each service binary carries
# the document it serves at GET /openapi.json. Run by eventify_service() at build time:
#   cmake -DINPUT=contracts/openapi/order.json -DOUTPUT=openapi_document.c -P embed_openapi.cmake
# The bytes are written as a hexadecimal array: no escaping to get wrong, any content works.
if(NOT INPUT OR NOT OUTPUT)
  message(FATAL_ERROR "embed_openapi.cmake needs -DINPUT=<document> -DOUTPUT=<source>")
endif()
file(READ "${INPUT}" hex HEX)
if(hex STREQUAL "")
  message(FATAL_ERROR "${INPUT} is empty")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* Generated at build time from contracts/openapi/${name} by cmake/embed_openapi.cmake. */\n"
  "#include \"ev/openapi.h\"\n\n"
  "const char ev_openapi_document[] = {\n    ${bytes}0x00};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
