/* Declarative request-body parsing: a table of fields says the name, type, whether required,
 * limits and where the value goes; every problem is reported with its field path. */
#ifndef ATTACHD_JFIELDS_H
#define ATTACHD_JFIELDS_H

#include <stdbool.h>
#include <jansson.h>
#include "attachd/http.h"

enum jtype {
    JF_STRING,  /* out: const char ** (borrowed from the JSON document) */
    JF_INT,     /* out: long long * */
    JF_BOOL,    /* out: bool * */
    JF_NUMBER,  /* out: double * (integers accepted) */
    JF_DATE,    /* out: const char ** holding YYYY-MM-DD, a real calendar date */
    JF_OBJECT,  /* out: json_t ** (borrowed) for nested specs */
    JF_STRINGS, /* out: json_t ** (borrowed) array of strings */
};

#define JF_REQUIRED 1u
#define JF_NULLABLE 2u /* JSON null is accepted and leaves *present false */

struct jfield {
    const char *name;
    enum jtype type;
    unsigned flags;
    void *out;
    bool *present;                /* optional: set true when the field was given (and not null) */
    long long min, max;           /* JF_INT value range; JF_STRING length range (0,0 = any) */
    const char *const *one_of;    /* JF_STRING: NULL-terminated allowed values */
    bool (*valid)(const char *s); /* JF_STRING/JF_STRINGS extra check */
    const char *valid_msg;        /* message when valid() fails */
};

/* Reads obj by the spec into the outs, adding an error per bad field (prefix + name as path)
 * to res; unknown members are errors too. Returns true when no error was added. */
bool jfields_parse(json_t *obj, const char *prefix, const struct jfield *spec, size_t nspec,
                   struct response *res);

/* YYYY-MM-DD that names a real date. */
bool date_valid(const char *s);

#endif
