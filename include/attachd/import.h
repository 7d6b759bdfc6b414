/* Bulk load of existing attachments from CSV through COPY (SPEC §5, §10). */
#ifndef ATTACHD_IMPORT_H
#define ATTACHD_IMPORT_H

/* Runs `attachd import attachments FILE`; returns the process exit code. */
int import_attachments_cmd(const char *conninfo, const char *path);

#endif
