/* attachd-openapi [--planned]: prints the OpenAPI document as /openapi.json serves it, or with
 * --planned including the operations and members marked x-planned (routes not landed yet), for
 * the contract checks of tools/contract (lint, the TypeScript client). */
#include <stdio.h>
#include <string.h>
#include "attachd/openapi.h"

int main(int argc, char **argv)
{
    bool planned = argc > 1 && strcmp(argv[1], "--planned") == 0;
    if (argc > 2 || (argc == 2 && !planned)) {
        fprintf(stderr, "usage: attachd-openapi [--planned]\n");
        return 2;
    }
    json_t *doc = planned ? openapi_document_planned() : openapi_document();
    int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;
    putchar('\n');
    json_decref(doc);
    return rc;
}
