/* OpenLineage event checks: see validate.h for the fatal / deviation split. */
#include "validate.h"

#include "util/ids.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_NAME 1024

static const char *const k_types[] = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"};

const char *ol_kind_name(ol_kind k)
{
    switch (k) {
    case OL_RUN:
        return "RunEvent";
    case OL_JOB:
        return "JobEvent";
    case OL_DATASET:
        return "DatasetEvent";
    default:
        return "unknown";
    }
}

static void problem(ol_check *chk, int fatal, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(ol_check *chk, int fatal, const char *path, const char *fmt, ...)
{
    char rule[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    json_t *p =
        json_pack("{s:s, s:s, s:b}", "path", *path ? path : "/", "rule", rule, "fatal", fatal);
    /* A key quoting invalid UTF-8 cannot be a JSON string: report the spot without it. */
    if (!p) p = json_pack("{s:s, s:s, s:b}", "path", "/", "rule", rule, "fatal", fatal);
    json_array_append_new(chk->problems, p);
    if (fatal) chk->fatal++;
}

/* path + "/" + key with JSON pointer escapes (~0, ~1), truncated safely. */
static void child(char *out, size_t outlen, const char *path, const char *key)
{
    size_t n = (size_t)snprintf(out, outlen, "%s/", path);
    for (const char *k = key; *k && n + 3 < outlen; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n < outlen ? n : outlen - 1] = 0;
}

static void child_idx(char *out, size_t outlen, const char *path, size_t i)
{
    snprintf(out, outlen, "%s/%zu", path, i);
}

int ol_uri_valid(const char *s)
{
    if (!s || !isalpha((unsigned char)*s)) return 0;
    const char *p = s + 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':') return 0;
    int hashes = 0;
    for (p++; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isalnum(ch) || strchr("-._~!$&'()*+,;=:@/?[]", ch)) continue;
        if (ch == '#' && ++hashes == 1) continue;
        if (ch == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            p += 2;
            continue;
        }
        return 0;
    }
    return 1;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

int ol_time_parse(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, sec, dev = 0;
    if (!s || strlen(s) < 19) return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (s[10] == ' ')
        dev = 1;
    else if (s[10] != 'T' && s[10] != 't')
        return -1;
    if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        int n = 0;
        for (; isdigit((unsigned char)*p); p++, n++)
            if (n < 6) frac = frac * 10 + (*p - '0');
        for (; n < 6; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0, sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh)) return -1;
        p += 3;
        if (*p == ':') {
            if (digits(p + 1, 2, &om)) return -1;
            p += 3;
        } else if (isdigit((unsigned char)*p)) {
            if (digits(p, 2, &om)) return -1;
            p += 2;
            dev = 1;
        } else {
            dev = 1;
        }
        if (oh > 23 || om > 59) return -1;
        off = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        dev = 1; /* no zone: read as UTC */
    }
    if (*p) return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - off;
    if (us) *us = t * 1000000 + frac;
    return dev;
}

/* A required string member: fatal when missing, not a string, empty or too long. */
static const char *req_name(ol_check *chk, const json_t *obj, const char *path, const char *key)
{
    char p[600];
    child(p, sizeof(p), path, key);
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        problem(chk, 1, p, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        problem(chk, 1, p, "must be a string");
        return NULL;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > MAX_NAME) {
        problem(chk, 1, p, "must be 1 to %d characters", MAX_NAME);
        return NULL;
    }
    return json_string_value(v);
}

/* A URI member that the schema requires: deviations only (identity does not depend on it). */
static void req_uri(ol_check *chk, const json_t *obj, const char *path, const char *key)
{
    char p[600];
    child(p, sizeof(p), path, key);
    const json_t *v = json_object_get(obj, key);
    if (!v)
        problem(chk, 0, p, "is required");
    else if (!json_is_string(v))
        problem(chk, 0, p, "must be a string");
    else if (!ol_uri_valid(json_string_value(v)))
        problem(chk, 0, p, "must be a URI (RFC 3986, with a scheme)");
}

static void check_facets(ol_check *chk, const json_t *owner, const char *path, const char *key,
                         int may_delete)
{
    char p[600];
    child(p, sizeof(p), path, key);
    const json_t *m = json_object_get(owner, key);
    if (!m) return;
    if (!json_is_object(m)) {
        problem(chk, 0, p, "must be an object (a map of facets); ignored");
        return;
    }
    const char *name;
    const json_t *f;
    json_object_foreach((json_t *)m, name, f)
    {
        char fp[600];
        child(fp, sizeof(fp), p, name);
        if (!json_is_object(f)) {
            problem(chk, 0, fp, "a facet must be an object; ignored");
            continue;
        }
        req_uri(chk, f, fp, "_producer");
        req_uri(chk, f, fp, "_schemaURL");
        const json_t *del = json_object_get(f, "_deleted");
        /* Only job and dataset facets define _deleted; elsewhere it is an ordinary key. */
        if (may_delete && del && !json_is_boolean(del)) {
            char dp[600];
            child(dp, sizeof(dp), fp, "_deleted");
            problem(chk, 0, dp, "must be a boolean");
        }
    }
}

static void check_dataset(ol_check *chk, const json_t *ds, const char *path, const char *io_key)
{
    if (!json_is_object(ds)) {
        problem(chk, 1, path, "a dataset must be an object with namespace and name");
        return;
    }
    req_name(chk, ds, path, "namespace");
    req_name(chk, ds, path, "name");
    check_facets(chk, ds, path, "facets", 1);
    if (io_key) check_facets(chk, ds, path, io_key, 0);
}

static void check_io(ol_check *chk, const json_t *ev, const char *key, const char *io_key)
{
    const json_t *a = json_object_get(ev, key);
    char p[64];
    snprintf(p, sizeof(p), "/%s", key);
    if (!a) return;
    if (!json_is_array(a)) {
        problem(chk, 1, p, "must be an array of datasets");
        return;
    }
    size_t i;
    const json_t *ds;
    json_array_foreach((json_t *)a, i, ds)
    {
        char ip[128];
        child_idx(ip, sizeof(ip), p, i);
        check_dataset(chk, ds, ip, io_key);
    }
}

static void check_job(ol_check *chk, const json_t *ev)
{
    const json_t *job = json_object_get(ev, "job");
    if (!json_is_object(job)) {
        problem(chk, 1, "/job", job ? "must be an object" : "is required");
        return;
    }
    req_name(chk, job, "/job", "namespace");
    req_name(chk, job, "/job", "name");
    check_facets(chk, job, "/job", "facets", 1);
}

static void check_run(ol_check *chk, const json_t *ev)
{
    const json_t *run = json_object_get(ev, "run");
    if (!json_is_object(run)) {
        problem(chk, 1, "/run", "must be an object");
        return;
    }
    const json_t *id = json_object_get(run, "runId");
    if (!id)
        problem(chk, 1, "/run/runId", "is required");
    else if (!json_is_string(id) || !ids_uuid_valid(json_string_value(id)))
        problem(chk, 1, "/run/runId", "must be a UUID");
    else
        for (int i = 0; i < 36; i++)
            chk->run_id[i] = (char)tolower((unsigned char)json_string_value(id)[i]);
    check_facets(chk, run, "/run", "facets", 0);

    const json_t *t = json_object_get(ev, "eventType");
    if (!t) return;
    if (!json_is_string(t)) {
        problem(chk, 1, "/eventType", "must be a string");
        return;
    }
    for (size_t i = 0; i < sizeof(k_types) / sizeof(k_types[0]); i++) {
        if (strcmp(json_string_value(t), k_types[i]) == 0) {
            snprintf(chk->event_type, sizeof(chk->event_type), "%s", k_types[i]);
            return;
        }
        if (strcasecmp(json_string_value(t), k_types[i]) == 0) {
            snprintf(chk->event_type, sizeof(chk->event_type), "%s", k_types[i]);
            problem(chk, 0, "/eventType", "must be upper case (%s)", k_types[i]);
            return;
        }
    }
    problem(chk, 1, "/eventType", "must be one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER");
}

int ol_validate(const json_t *ev, ol_check *chk)
{
    memset(chk, 0, sizeof(*chk));
    chk->problems = json_array();
    if (!json_is_object(ev)) {
        problem(chk, 1, "/", "an event must be a JSON object");
        return -1;
    }
    /* oneOf: RunEvent (run + job), JobEvent (job, no run), DatasetEvent (dataset, not both
     * job and run). dataset + job without run matches two branches and is rejected. */
    int has_run = json_object_get(ev, "run") != NULL, has_job = json_object_get(ev, "job") != NULL;
    int has_ds = json_object_get(ev, "dataset") != NULL;
    if (has_run) {
        chk->kind = OL_RUN;
        check_run(chk, ev);
        check_job(chk, ev);
    } else if (has_ds && has_job) {
        problem(chk, 1, "/",
                "an event with dataset and job but no run matches both DatasetEvent "
                "and JobEvent (oneOf): send a run, or drop job or dataset");
    } else if (has_ds) {
        chk->kind = OL_DATASET;
        check_dataset(chk, json_object_get(ev, "dataset"), "/dataset", NULL);
    } else if (has_job) {
        chk->kind = OL_JOB;
        check_job(chk, ev);
    } else {
        problem(chk, 1, "/",
                "must be a RunEvent (run and job), a JobEvent (job) or a "
                "DatasetEvent (dataset)");
    }
    if (chk->kind == OL_RUN || chk->kind == OL_JOB) {
        check_io(chk, ev, "inputs", "inputFacets");
        check_io(chk, ev, "outputs", "outputFacets");
    }

    const json_t *t = json_object_get(ev, "eventTime");
    if (!t)
        problem(chk, 1, "/eventTime", "is required");
    else if (!json_is_string(t))
        problem(chk, 1, "/eventTime", "must be a string (RFC 3339 date-time)");
    else {
        int rc = ol_time_parse(json_string_value(t), &chk->event_time_us);
        if (rc < 0)
            problem(chk, 1, "/eventTime", "must be an RFC 3339 date-time");
        else if (rc > 0)
            problem(chk, 0, "/eventTime",
                    "must be an RFC 3339 date-time with a zone (read as UTC)");
    }
    req_uri(chk, ev, "", "producer");
    req_uri(chk, ev, "", "schemaURL");
    return chk->fatal ? -1 : 0;
}

void ol_check_free(ol_check *chk)
{
    json_decref(chk->problems);
    chk->problems = NULL;
}

int ol_check_deviations(const ol_check *chk)
{
    return (int)json_array_size(chk->problems) - chk->fatal;
}

void ol_check_first(const ol_check *chk, int only_fatal, char *out, size_t outlen)
{
    size_t i;
    const json_t *p;
    snprintf(out, outlen, "invalid event");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && only_fatal) break;
        json_array_foreach(chk->problems, i, p)
        {
            int fatal = json_is_true(json_object_get(p, "fatal"));
            if (pass == 0 ? !fatal : fatal) continue;
            snprintf(out, outlen, "%s: %s", json_string_value(json_object_get(p, "path")),
                     json_string_value(json_object_get(p, "rule")));
            return;
        }
    }
}
