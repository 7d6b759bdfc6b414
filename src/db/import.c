#include "attachd/import.h"

#include <stdio.h>

int import_attachments_cmd(const char *conninfo, const char *path)
{
    (void)conninfo;
    fprintf(stderr, "attachd import attachments %s: not implemented yet (issue 3)\n", path);
    return 1;
}
