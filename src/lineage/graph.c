/* The lineage graph (GET /api/v1/lineage?nodeId=&depth=) in Marquez's shape, by breadth-first
 * search in C over ol_edges. Each BFS level loads the adjacency of the whole frontier with
 * indexed IN (...) queries (the primary key for jobs, ol_edges_dataset for datasets), so a
 * depth-20 walk over 10k nodes is ~40 small queries instead of a recursive CTE per request.
 * Depth counts job hops: depth N reaches jobs up to N jobs away and the datasets between. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK     500
#define MAX_NODES 200000

/* Open-addressing set of positive int64 ids, remembering insertion order. */
typedef struct {
    int64_t *slots; /* 0 = empty */
    int *slot_idx;
    size_t cap;
    int64_t *order;
    size_t n, order_cap;
} idset;

static int idset_init(idset *s)
{
    memset(s, 0, sizeof(*s));
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    s->slot_idx = calloc(s->cap, sizeof(*s->slot_idx));
    return s->slots && s->slot_idx ? 0 : -1;
}

static void idset_free(idset *s)
{
    free(s->slots);
    free(s->slot_idx);
    free(s->order);
}

static size_t hash64(int64_t k)
{
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

/* Index of id, or -1. */
static int idset_find(const idset *s, int64_t id)
{
    for (size_t i = hash64(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == 0) return -1;
        if (s->slots[i] == id) return s->slot_idx[i];
    }
}

/* 1 when added, 0 when present, -1 on allocation failure. */
static int idset_add(idset *s, int64_t id)
{
    if ((s->n + 1) * 2 > s->cap) {
        idset bigger = {.cap = s->cap * 2};
        bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
        bigger.slot_idx = calloc(bigger.cap, sizeof(*bigger.slot_idx));
        if (!bigger.slots || !bigger.slot_idx) {
            free(bigger.slots);
            free(bigger.slot_idx);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i]) continue;
            size_t j = hash64(s->slots[i]) & (bigger.cap - 1);
            while (bigger.slots[j])
                j = (j + 1) & (bigger.cap - 1);
            bigger.slots[j] = s->slots[i];
            bigger.slot_idx[j] = s->slot_idx[i];
        }
        free(s->slots);
        free(s->slot_idx);
        s->slots = bigger.slots;
        s->slot_idx = bigger.slot_idx;
        s->cap = bigger.cap;
    }
    size_t i = hash64(id) & (s->cap - 1);
    while (s->slots[i]) {
        if (s->slots[i] == id) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    if (s->n == s->order_cap) {
        size_t nc = s->order_cap ? s->order_cap * 2 : 256;
        int64_t *o = realloc(s->order, nc * sizeof(*o));
        if (!o) return -1;
        s->order = o;
        s->order_cap = nc;
    }
    s->slots[i] = id;
    s->slot_idx[i] = (int)s->n;
    s->order[s->n++] = id;
    return 1;
}

typedef struct {
    int64_t job, ds;
    int out; /* 1: job -> dataset (OUTPUT); 0: dataset -> job (INPUT) */
} edge;

typedef struct {
    lineage_t *lg;
    meta_conn *c;
    idset jobs, dss, edge_keys;
    edge *edges;
    size_t nedges, edges_cap;
    dlb_err *e;
} walk;

static int add_edge(walk *w, int64_t job, int64_t ds, int out)
{
    /* A key unique per (job, dataset, direction); ids stay far below 2^30 in practice, and a
     * collision would only drop a duplicate-looking edge from the answer. */
    int64_t key = ((job & 0x3fffffff) << 32 | (ds & 0x7fffffff) << 1 | out) + 1;
    int rc = idset_add(&w->edge_keys, key);
    if (rc <= 0) return rc;
    if (w->nedges == w->edges_cap) {
        size_t nc = w->edges_cap ? w->edges_cap * 2 : 256;
        edge *ne = realloc(w->edges, nc * sizeof(*ne));
        if (!ne) return -1;
        w->edges = ne;
        w->edges_cap = nc;
    }
    w->edges[w->nedges++] = (edge){job, ds, out};
    return 0;
}

/* Runs sql_prefix + "(?, ?, ...)" + sql_suffix over ids in chunks; calls fn per row. */
static int in_chunks(walk *w, const char *prefix, const char *suffix, const int64_t *ids, size_t n,
                     int (*fn)(walk *, const meta_result *, int, void *), void *arg)
{
    meta_val *p = malloc(CHUNK * sizeof(*p));
    char *sql = malloc(strlen(prefix) + strlen(suffix) + CHUNK * 3 + 8);
    int rc = p && sql ? 0 : -1;
    for (size_t off = 0; rc == 0 && off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        char *s = sql + sprintf(sql, "%s(", prefix);
        for (size_t i = 0; i < k; i++) {
            s += sprintf(s, i ? ",?" : "?");
            p[i] = MVINT(ids[off + i]);
        }
        sprintf(s, ")%s", suffix);
        char err[256] = "";
        int qrc = META_ERR;
        meta_result *r = meta_query(w->c, sql, p, (int)k, &qrc, err, sizeof(err));
        if (!r) {
            lineage_db_err(w->e, qrc, "lineage graph", err);
            rc = -1;
            break;
        }
        for (int i = 0; rc == 0 && i < meta_result_rows(r); i++)
            rc = fn(w, r, i, arg);
        meta_result_free(r);
    }
    if (rc && !w->e->status) dlb_err_set(w->e, 500, "internal_error", "out of memory");
    free(p);
    free(sql);
    return rc;
}

typedef struct {
    int64_t *next_jobs, *next_dss;
    size_t nj, nd, capj, capd;
    int expand; /* add newly seen nodes to the next frontier */
} frontier;

static int push(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        int64_t *na = realloc(*a, nc * sizeof(*na));
        if (!na) return -1;
        *a = na;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int on_edge(walk *w, const meta_result *r, int i, void *arg)
{
    frontier *f = arg;
    int64_t job = meta_result_int(r, i, 0), ds = meta_result_int(r, i, 1);
    int out = strcmp(meta_result_get(r, i, 2), "OUTPUT") == 0;
    if (w->jobs.n + w->dss.n > MAX_NODES) return 0; /* bounded answer */
    int aj = idset_add(&w->jobs, job), ad = idset_add(&w->dss, ds);
    if (aj < 0 || ad < 0 || add_edge(w, job, ds, out)) return -1;
    if (aj == 1 && push(&f->next_jobs, &f->nj, &f->capj, job)) return -1;
    if (ad == 1 && push(&f->next_dss, &f->nd, &f->capd, ds)) return -1;
    return 0;
}

static int bfs(walk *w, int start_is_job, int64_t start, int maxd)
{
    int64_t *fj = NULL, *fd = NULL;
    size_t nj = 0, nd = 0, cj = 0, cd = 0;
    if (push(start_is_job ? &fj : &fd, start_is_job ? &nj : &nd, start_is_job ? &cj : &cd, start) ||
        idset_add(start_is_job ? &w->jobs : &w->dss, start) < 0) {
        free(fj);
        free(fd);
        return -1;
    }
    int rc = 0;
    for (int d = 0; rc == 0 && d < maxd && (nj || nd); d++) {
        frontier f = {0};
        if (nj)
            rc = in_chunks(w, "SELECT job_id, dataset_id, direction FROM ol_edges WHERE job_id IN ",
                           "", fj, nj, on_edge, &f);
        if (rc == 0 && nd)
            rc = in_chunks(w,
                           "SELECT job_id, dataset_id, direction FROM ol_edges WHERE dataset_id "
                           "IN ",
                           "", fd, nd, on_edge, &f);
        free(fj);
        free(fd);
        fj = f.next_jobs;
        fd = f.next_dss;
        nj = f.nj;
        nd = f.nd;
    }
    free(fj);
    free(fd);
    return rc;
}

typedef struct {
    json_t **nodes; /* per index of the set */
    int is_job;
} load_arg;

static int on_node(walk *w, const meta_result *r, int i, void *argp)
{
    load_arg *a = argp;
    int64_t id = meta_result_int(r, i, 0);
    int idx = idset_find(a->is_job ? &w->jobs : &w->dss, id);
    if (idx < 0) return 0;
    const char *ns = meta_result_get(r, i, 1), *name = meta_result_get(r, i, 2);
    size_t len = strlen(ns) + strlen(name) + 16;
    char *nid = malloc(len);
    if (!nid) return -1;
    snprintf(nid, len, "%s:%s:%s", a->is_job ? "job" : "dataset", ns, name);
    json_t *data = json_pack("{s:{s:s, s:s}, s:s, s:s}", "id", "namespace", ns, "name", name,
                             "name", name, "namespace", ns);
    json_object_set_new(data, "type", json_string(a->is_job ? "BATCH" : "DB_TABLE"));
    if (!a->is_job) json_object_set_new(data, "physicalName", json_string(name));
    lineage_set_time(data, "createdAt", meta_result_int(r, i, 4));
    lineage_set_time(data, "updatedAt", meta_result_int(r, i, 5));
    json_object_set_new(data, "facets", lineage_json_col(r, i, 3));
    json_t *node = json_pack("{s:s, s:s, s:o, s:[], s:[]}", "id", nid, "type",
                             a->is_job ? "JOB" : "DATASET", "data", data, "inEdges", "outEdges");
    free(nid);
    if (!node) return -1;
    a->nodes[idx] = node;
    return 0;
}

static int cmp_nodes(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    return strcmp(json_string_value(json_object_get(a, "id")),
                  json_string_value(json_object_get(b, "id")));
}

static void link(json_t *from, json_t *to)
{
    if (!from || !to) return;
    json_t *e = json_pack("{s:O, s:O}", "origin", json_object_get(from, "id"), "destination",
                          json_object_get(to, "id"));
    json_array_append(json_object_get(from, "outEdges"), e);
    json_array_append_new(json_object_get(to, "inEdges"), e);
}

/* Resolves "job:<ns>:<name>" / "dataset:<ns>:<name>". Namespaces (s3://b) and names may hold
 * ':' themselves, so every split is tried until one names an existing node. */
static int resolve(walk *w, const char *node_id, int *is_job, int64_t *id)
{
    const char *rest;
    if (!strncmp(node_id, "job:", 4)) {
        *is_job = 1;
        rest = node_id + 4;
    } else if (!strncmp(node_id, "dataset:", 8)) {
        *is_job = 0;
        rest = node_id + 8;
    } else {
        dlb_err_set(w->e, 422, "invalid_node_id",
                    "nodeId must be job:<namespace>:<name> or dataset:<namespace>:<name>");
        return -1;
    }
    for (const char *c = strchr(rest, ':'); c; c = strchr(c + 1, ':')) {
        char *ns = strndup(rest, (size_t)(c - rest));
        if (!ns) return -1;
        meta_val p[] = {MVTEXT(ns), MVTEXT(c + 1)};
        char err[256] = "";
        int rc = META_ERR;
        meta_result *r = meta_query(w->c,
                                    *is_job ? "SELECT id FROM ol_jobs WHERE namespace = ? AND "
                                              "name = ?"
                                            : "SELECT id FROM ol_datasets WHERE namespace = ? "
                                              "AND name = ?",
                                    p, 2, &rc, err, sizeof(err));
        free(ns);
        if (!r) {
            lineage_db_err(w->e, rc, "lineage graph", err);
            return -1;
        }
        int found = meta_result_rows(r) > 0;
        if (found) *id = meta_result_int(r, 0, 0);
        meta_result_free(r);
        if (found) return 0;
    }
    dlb_err_set(w->e, 404, "node_not_found", "node '%.300s' not found", node_id);
    return -1;
}

static json_t *build(walk *w)
{
    size_t nj = w->jobs.n, nd = w->dss.n;
    json_t **jn = calloc(nj + 1, sizeof(*jn)), **dn = calloc(nd + 1, sizeof(*dn));
    json_t *out = NULL;
    load_arg ja = {jn, 1}, da = {dn, 0};
    if (!jn || !dn) {
        dlb_err_set(w->e, 500, "internal_error", "out of memory");
        goto done;
    }
    if (in_chunks(w,
                  "SELECT id, namespace, name, facets, created_at, updated_at FROM ol_jobs WHERE "
                  "id IN ",
                  "", w->jobs.order, nj, on_node, &ja) ||
        in_chunks(w,
                  "SELECT id, namespace, name, facets, created_at, updated_at FROM ol_datasets "
                  "WHERE id IN ",
                  "", w->dss.order, nd, on_node, &da))
        goto done;
    for (size_t i = 0; i < w->nedges; i++) {
        const edge *ed = &w->edges[i];
        int ji = idset_find(&w->jobs, ed->job), di = idset_find(&w->dss, ed->ds);
        if (ji < 0 || di < 0) continue;
        if (ed->out)
            link(jn[ji], dn[di]);
        else
            link(dn[di], jn[ji]);
    }
    json_t **all = malloc((nj + nd + 1) * sizeof(*all));
    if (!all) {
        dlb_err_set(w->e, 500, "internal_error", "out of memory");
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < nj; i++)
        if (jn[i]) all[n++] = jn[i];
    for (size_t i = 0; i < nd; i++)
        if (dn[i]) all[n++] = dn[i];
    qsort(all, n, sizeof(*all), cmp_nodes);
    json_t *graph = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(graph, all[i]);
    free(all);
    out = json_pack("{s:o}", "graph", graph);
done:
    for (size_t i = 0; jn && i < nj; i++)
        json_decref(jn[i]);
    for (size_t i = 0; dn && i < nd; i++)
        json_decref(dn[i]);
    free(jn);
    free(dn);
    return out;
}

json_t *lineage_graph(lineage_t *lg, const char *node_id, int depth, dlb_err *e)
{
    walk w = {.lg = lg, .e = e};
    if (idset_init(&w.jobs) || idset_init(&w.dss) || idset_init(&w.edge_keys)) {
        idset_free(&w.jobs);
        idset_free(&w.dss);
        idset_free(&w.edge_keys);
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    json_t *out = NULL;
    w.c = meta_acquire(lg->meta);
    if (!w.c) {
        dlb_err_set(e, 503, "database_unavailable", "no metadata database connection");
        goto done;
    }
    int is_job = 0;
    int64_t start = 0;
    if (resolve(&w, node_id, &is_job, &start)) goto done;
    if (bfs(&w, is_job, start, 2 * depth + (is_job ? 0 : 1))) goto done;
    out = build(&w);
done:
    if (w.c) meta_release(lg->meta, w.c);
    idset_free(&w.jobs);
    idset_free(&w.dss);
    idset_free(&w.edge_keys);
    free(w.edges);
    return out;
}
