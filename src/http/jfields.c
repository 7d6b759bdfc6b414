#include "attachd/jfields.h"

#include <stdio.h>
#include <string.h>

bool date_valid(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1800 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static void list_text(const char *const *list, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (; *list && used + 2 < len; list++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", *list);
}

/* Checks one present, non-null value against its field spec; stores it on success. */
static bool take_value(const struct jfield *f, json_t *v, const char *path, struct response *res)
{
    switch (f->type) {
    case JF_STRING:
    case JF_DATE: {
        if (!json_is_string(v)) {
            res_field_error(res, path, "must be a string");
            return false;
        }
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (strlen(s) != len) {
            res_field_error(res, path, "must not contain NUL characters");
            return false;
        }
        if (f->type == JF_DATE && !date_valid(s)) {
            res_field_error(res, path, "must be a date YYYY-MM-DD");
            return false;
        }
        if (f->max && ((long long)len < f->min || (long long)len > f->max)) {
            res_field_error(res, path, "must be %lld to %lld bytes long", f->min, f->max);
            return false;
        }
        if (f->one_of && !in_list(s, f->one_of)) {
            char allowed[200];
            list_text(f->one_of, allowed, sizeof allowed);
            res_field_error(res, path, "must be one of: %s", allowed);
            return false;
        }
        if (f->valid && !f->valid(s)) {
            res_field_error(res, path, "%s", f->valid_msg ? f->valid_msg : "is not valid");
            return false;
        }
        *(const char **)f->out = s;
        return true;
    }
    case JF_INT: {
        if (!json_is_integer(v)) {
            res_field_error(res, path, "must be an integer");
            return false;
        }
        long long n = json_integer_value(v);
        if ((f->min || f->max) && (n < f->min || n > f->max)) {
            res_field_error(res, path, "must be from %lld to %lld", f->min, f->max);
            return false;
        }
        *(long long *)f->out = n;
        return true;
    }
    case JF_BOOL:
        if (!json_is_boolean(v)) {
            res_field_error(res, path, "must be true or false");
            return false;
        }
        *(bool *)f->out = json_is_true(v);
        return true;
    case JF_NUMBER:
        if (!json_is_number(v)) {
            res_field_error(res, path, "must be a number");
            return false;
        }
        *(double *)f->out = json_number_value(v);
        return true;
    case JF_OBJECT:
        if (!json_is_object(v)) {
            res_field_error(res, path, "must be an object");
            return false;
        }
        *(json_t **)f->out = v;
        return true;
    case JF_STRINGS: {
        if (!json_is_array(v)) {
            res_field_error(res, path, "must be an array of strings");
            return false;
        }
        bool ok = true;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char ipath[192];
            snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
            const char *s = json_string_value(item);
            if (!s) {
                res_field_error(res, ipath, "must be a string");
                ok = false;
            } else if (f->valid && !f->valid(s)) {
                res_field_error(res, ipath, "%s", f->valid_msg ? f->valid_msg : "is not valid");
                ok = false;
            }
        }
        if (f->max && (long long)json_array_size(v) > f->max) {
            res_field_error(res, path, "must have at most %lld items", f->max);
            ok = false;
        }
        if (ok)
            *(json_t **)f->out = v;
        return ok;
    }
    }
    return false;
}

bool jfields_parse(json_t *obj, const char *prefix, const struct jfield *spec, size_t nspec,
                   struct response *res)
{
    bool ok = true;
    char path[160];
    for (size_t i = 0; i < nspec; i++) {
        const struct jfield *f = &spec[i];
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix && *prefix ? "." : "",
                 f->name);
        json_t *v = json_object_get(obj, f->name);
        if (f->present)
            *f->present = false;
        if (!v || (json_is_null(v) && (f->flags & JF_NULLABLE))) {
            if (f->flags & JF_REQUIRED) {
                res_field_error(res, path, "is required");
                ok = false;
            }
            continue;
        }
        if (!take_value(f, v, path, res)) {
            ok = false;
            continue;
        }
        if (f->present)
            *f->present = true;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < nspec && !known; i++)
            known = strcmp(spec[i].name, key) == 0;
        if (!known) {
            snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "",
                     prefix && *prefix ? "." : "", key);
            res_field_error(res, path, "is not a known field");
            ok = false;
        }
    }
    return ok;
}
