/* The lineage graph (GET /api/v1/lineage?nodeId=&depth=) in Marquez's shape, by breadth-first
 * search in C over ol_edges. Each BFS level loads the adjacency of the whole frontier with
 * indexed IN (...) queries (the primary key for jobs, ol_edges_dataset for datasets), so a
 * depth-20 walk over 10k nodes is ~40 small queries instead of a recursive CTE per request.
 * Depth counts job hops: depth N reaches jobs up to N jobs away and the datasets between. */
#include "graph_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK     500
#define MAX_NODES 200000
/* Walks that reach this many nodes with levels to go switch to the in-memory edge table... */
#define GRAPH_MEM_AFTER 1000
/* ...when the tables hold at most this many edges and nodes (the snapshot keeps them rendered:
 * about 300 bytes per node and 30 per edge). */
#define GRAPH_MEM_EDGES  200000
#define GRAPH_SNAP_NODES 100000

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
    struct graph_snap *snap; /* the in-memory graph this walk uses, or NULL */
    char fp[200];            /* fingerprint of the tables ("" when not taken) */
    int64_t fp_jobs, fp_dss, fp_edges;
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

/* Adds one edge found from the frontier, and its far end to the next frontier when new. */
static int visit_edge(walk *w, frontier *f, int64_t job, int64_t ds, int out)
{
    if (w->jobs.n + w->dss.n > MAX_NODES) return 0; /* bounded answer */
    int aj = idset_add(&w->jobs, job), ad = idset_add(&w->dss, ds);
    if (aj < 0 || ad < 0 || add_edge(w, job, ds, out)) return -1;
    if (aj == 1 && push(&f->next_jobs, &f->nj, &f->capj, job)) return -1;
    if (ad == 1 && push(&f->next_dss, &f->nd, &f->capd, ds)) return -1;
    return 0;
}

/* Edge rows come as one text cell "<job_id> <dataset_id> <1 OUTPUT | 0 INPUT>": the metadata
 * layer materialises every cell as its own string, so one cell per row instead of three
 * makes the result three times cheaper to build. */
#define EDGE_COLS                                                                                  \
    "job_id || ' ' || dataset_id || ' ' || CASE WHEN direction = 'OUTPUT' THEN 1 ELSE 0 END"

static int parse_edge(const char *s, int64_t *job, int64_t *ds, int *out)
{
    char *e;
    if (!s) return -1;
    *job = strtoll(s, &e, 10);
    if (*e != ' ') return -1;
    *ds = strtoll(e + 1, &e, 10);
    if (*e != ' ') return -1;
    *out = e[1] == '1';
    return 0;
}

static int on_edge(walk *w, const meta_result *r, int i, void *arg)
{
    int64_t job, ds;
    int out;
    if (parse_edge(meta_result_get(r, i, 0), &job, &ds, &out)) return 0;
    return visit_edge(w, arg, job, ds, out);
}

static void memgraph_free(memgraph *g)
{
    free(g->ej);
    free(g->ed);
    free(g->eo);
    idset_free(&g->jobs);
    idset_free(&g->dss);
    free(g->joff);
    free(g->jadj);
    free(g->doff);
    free(g->dadj);
}

/* CSR of the edges by one end (ends[e]), set s numbering the distinct ends. */
static int csr(const int64_t *ends, size_t n, idset *s, uint32_t **off, uint32_t **adj)
{
    for (size_t e = 0; e < n; e++)
        if (idset_add(s, ends[e]) < 0) return -1;
    *off = calloc(s->n + 2, sizeof(**off));
    *adj = malloc((n + 1) * sizeof(**adj));
    if (!*off || !*adj) return -1;
    for (size_t e = 0; e < n; e++)
        (*off)[idset_find(s, ends[e]) + 2]++;
    for (size_t k = 2; k < s->n + 2; k++)
        (*off)[k] += (*off)[k - 1];
    for (size_t e = 0; e < n; e++) /* off[k + 1] runs as the fill cursor of end k */
        (*adj)[(*off)[idset_find(s, ends[e]) + 1]++] = (uint32_t)e;
    return 0;
}

/* Loads the edge table when it holds at most GRAPH_MEM_EDGES rows: 1 loaded, 0 too large
 * (nothing kept), -1 on error. One query instead of one per level and end. */
static int memgraph_load(walk *w, memgraph *g)
{
    memset(g, 0, sizeof(*g));
    char err[256] = "";
    int qrc = META_ERR;
    meta_val lim[] = {MVINT(GRAPH_MEM_EDGES + 1)};
    meta_result *r = meta_query(w->c, "SELECT " EDGE_COLS " FROM ol_edges LIMIT ?", lim, 1, &qrc,
                                err, sizeof(err));
    if (!r) {
        lineage_db_err(w->e, qrc, "lineage graph", err);
        return -1;
    }
    int n = meta_result_rows(r);
    if (n > GRAPH_MEM_EDGES) {
        meta_result_free(r);
        return 0;
    }
    g->n = (size_t)n;
    g->ej = malloc(((size_t)n + 1) * sizeof(*g->ej));
    g->ed = malloc(((size_t)n + 1) * sizeof(*g->ed));
    g->eo = malloc((size_t)n + 1);
    int rc =
        g->ej && g->ed && g->eo && idset_init(&g->jobs) == 0 && idset_init(&g->dss) == 0 ? 0 : -1;
    size_t m = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        int out;
        if (parse_edge(meta_result_get(r, i, 0), &g->ej[m], &g->ed[m], &out)) continue;
        g->eo[m++] = (unsigned char)out;
    }
    g->n = m;
    meta_result_free(r);
    if (rc == 0) rc = csr(g->ej, g->n, &g->jobs, &g->joff, &g->jadj);
    if (rc == 0) rc = csr(g->ed, g->n, &g->dss, &g->doff, &g->dadj);
    if (rc) {
        memgraph_free(g);
        dlb_err_set(w->e, 500, "internal_error", "out of memory");
        return -1;
    }
    return 1;
}

/* One BFS level in memory: the edges of every frontier node (jobs first, like the queries). */
static int mem_level(walk *w, const memgraph *g, const int64_t *fj, size_t nj, const int64_t *fd,
                     size_t nd, frontier *f)
{
    for (int side = 0; side < 2; side++) {
        const int64_t *ids = side ? fd : fj;
        const idset *s = side ? &g->dss : &g->jobs;
        const uint32_t *off = side ? g->doff : g->joff, *adj = side ? g->dadj : g->jadj;
        for (size_t i = 0, n = side ? nd : nj; i < n; i++) {
            int k = idset_find(s, ids[i]);
            if (k < 0) continue;
            for (uint32_t q = off[k]; q < off[k + 1]; q++) {
                uint32_t e = adj[q];
                if (visit_edge(w, f, g->ej[e], g->ed[e], g->eo[e])) return -1;
            }
        }
    }
    return 0;
}

static int snap_build(walk *w);

/* Breadth-first, level by level. Small walks query the adjacency of each frontier (indexed IN
 * lists). With a snapshot of the graph whose fingerprint matches the tables, the whole walk
 * runs in memory; without one, a walk that has reached GRAPH_MEM_AFTER nodes with levels still
 * to go builds a snapshot (when the tables are small enough, see take_fingerprint) and
 * finishes in memory: one query for the edge table instead of ~80 for a depth-20 walk. */
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
        if (!w->snap && w->fp[0] && d + 1 < maxd && w->jobs.n + w->dss.n >= GRAPH_MEM_AFTER)
            rc = snap_build(w);
        if (rc) {
            free(f.next_jobs);
            free(f.next_dss);
            break;
        }
        if (w->snap) {
            rc = mem_level(w, &w->snap->g, fj, nj, fd, nd, &f);
        } else {
            if (nj)
                rc = in_chunks(w, "SELECT " EDGE_COLS " FROM ol_edges WHERE job_id IN ", "", fj, nj,
                               on_edge, &f);
            if (rc == 0 && nd)
                rc = in_chunks(w, "SELECT " EDGE_COLS " FROM ol_edges WHERE dataset_id IN ", "", fd,
                               nd, on_edge, &f);
        }
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
    gnode *nodes; /* by index in the walk's set of jobs or datasets (or in add) */
    buf_t *arena;
    int is_job;
    idset *add; /* snapshot: number the rows in this set as they come (at most cap) */
    size_t cap;
} load_arg;

/* Appends the facets text as stored (our own compact dump), or null; anything that does not
 * look like a JSON object is re-parsed and re-dumped, so the answer stays valid JSON. */
static int put_facets(buf_t *b, const meta_result *r, int i, int col)
{
    const char *f = meta_result_get(r, i, col);
    size_t n = f ? strlen(f) : 0;
    if (n >= 2 && f[0] == '{' && f[n - 1] == '}') return buf_append(b, f, n);
    json_t *j = lineage_json_col(r, i, col);
    char *d = lineage_dump(j);
    json_decref(j);
    int rc = buf_appends(b, d ? d : "null");
    free(d);
    return rc;
}

static int put_time(buf_t *b, const char *key, int64_t us)
{
    if (buf_appends(b, key)) return -1;
    if (!us) return buf_append(b, "null", 4);
    char t[40];
    lineage_fmt_time(us, t);
    return lineage_json_strz(b, t);
}

/* Node rows: "<id> <created_at> <updated_at>" in one cell (see EDGE_COLS for why). */
#define NODE_COLS "id || ' ' || created_at || ' ' || updated_at, namespace, name, facets"

static int on_node(walk *w, const meta_result *r, int i, void *argp)
{
    load_arg *a = argp;
    const char *nums = meta_result_get(r, i, 0);
    char *e;
    if (!nums) return 0;
    int64_t id = strtoll(nums, &e, 10), created = 0, updated = 0;
    if (*e == ' ') created = strtoll(e + 1, &e, 10);
    if (*e == ' ') updated = strtoll(e + 1, &e, 10);
    int idx;
    if (a->add) {
        if (a->add->n >= a->cap) return 0; /* inserted since the fingerprint: next time */
        int added = idset_add(a->add, id);
        if (added < 0) return -1;
        if (added == 0) return 0;
        idx = (int)a->add->n - 1;
    } else {
        idx = idset_find(a->is_job ? &w->jobs : &w->dss, id);
        if (idx < 0) return 0;
    }
    gnode *g = &a->nodes[idx];
    const char *ns = meta_result_get(r, i, 1), *name = meta_result_get(r, i, 2);
    buf_t *b = a->arena;
    size_t lns = strlen(ns), lname = strlen(name);
    const char *kind = a->is_job ? "job:" : "dataset:";
    int rc = 0;
    g->id = b->len;
    rc |= buf_appends(b, kind);
    rc |= buf_append(b, ns, lns);
    rc |= buf_append(b, ":", 1);
    rc |= buf_append(b, name, lname);
    rc |= buf_append(b, "", 1); /* the NUL is part of the arena */
    if (rc) return -1;
    size_t idlen = b->len - g->id - 1;
    g->qid = b->len;
    /* The arena may move while it grows: copy the raw id out of it first. */
    char small[512], *tmp = idlen < sizeof(small) ? small : malloc(idlen + 1);
    if (!tmp) return -1;
    memcpy(tmp, b->data + g->id, idlen);
    rc |= lineage_json_str(b, tmp, idlen);
    if (tmp != small) free(tmp);
    g->qlen = b->len - g->qid;
    g->data = b->len;
    rc |= buf_appends(b, a->is_job ? "\"type\":\"JOB\",\"data\":{\"id\":{\"namespace\":"
                                   : "\"type\":\"DATASET\",\"data\":{\"id\":{\"namespace\":");
    rc |= lineage_json_str(b, ns, lns);
    rc |= buf_appends(b, ",\"name\":");
    rc |= lineage_json_str(b, name, lname);
    rc |= buf_appends(b, "},\"name\":");
    rc |= lineage_json_str(b, name, lname);
    rc |= buf_appends(b, ",\"namespace\":");
    rc |= lineage_json_str(b, ns, lns);
    if (a->is_job) {
        rc |= buf_appends(b, ",\"type\":\"BATCH\"");
    } else {
        rc |= buf_appends(b, ",\"type\":\"DB_TABLE\",\"physicalName\":");
        rc |= lineage_json_str(b, name, lname);
    }
    rc |= put_time(b, ",\"createdAt\":", created);
    rc |= put_time(b, ",\"updatedAt\":", updated);
    rc |= buf_appends(b, ",\"facets\":");
    rc |= put_facets(b, r, i, 3);
    rc |= buf_append(b, "}", 1);
    if (rc) return -1;
    g->dlen = b->len - g->data;
    g->present = 1;
    return 0;
}

/* ---- the graph snapshot ---- */

static int query_rows(walk *w, const char *sql, int (*fn)(walk *, const meta_result *, int, void *),
                      void *arg)
{
    char err[256] = "";
    int qrc = META_ERR;
    meta_result *r = meta_query(w->c, sql, NULL, 0, &qrc, err, sizeof(err));
    if (!r) {
        lineage_db_err(w->e, qrc, "lineage graph", err);
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < meta_result_rows(r); i++)
        rc = fn(w, r, i, arg);
    meta_result_free(r);
    if (rc && !w->e->status) dlb_err_set(w->e, 500, "internal_error", "out of memory");
    return rc;
}

static void snap_free(graph_snap *sn)
{
    if (!sn) return;
    graph_index_free(sn->ix);
    memgraph_free(&sn->g);
    idset_free(&sn->jobs);
    idset_free(&sn->dss);
    free(sn->jn);
    free(sn->dn);
    buf_free(&sn->arena);
    free(sn);
}

static void snap_unref(lineage_t *lg, graph_snap *sn)
{
    if (!sn) return;
    pthread_mutex_lock(&lg->gsnap_mu);
    int last = --sn->refs == 0;
    pthread_mutex_unlock(&lg->gsnap_mu);
    if (last) snap_free(sn);
}

void lineage_graph_forget(lineage_t *lg)
{
    pthread_mutex_lock(&lg->gsnap_mu);
    graph_snap *sn = lg->gsnap;
    lg->gsnap = NULL;
    pthread_mutex_unlock(&lg->gsnap_mu);
    snap_unref(lg, sn);
}

/* The tables' fingerprint: row counts, and the newest and the sum (mod a prime, so that it
 * cannot overflow) of updated_at of jobs and datasets. Every stored event upserts its job or
 * dataset with updated_at = now (facets, edges and new rows all come with it), so any change
 * the graph can show changes the fingerprint. Taken before the snapshot is loaded, so a
 * snapshot is never older than its fingerprint. Sets w->fp only when the tables are small
 * enough to hold in memory (else remembers for a minute not to try). */
static int take_fingerprint(walk *w)
{
    if (lineage_now_us() < atomic_load(&w->lg->graph_big_until)) return 0;
    char err[256] = "";
    int qrc = META_ERR;
    meta_result *r = meta_query(
        w->c,
        /* One pass over each table (not one per aggregate): this runs on every request. */
        "SELECT j.n, d.n, (SELECT count(*) FROM ol_edges), j.mx, j.sm, d.mx, d.sm FROM "
        "(SELECT count(*) AS n, COALESCE(max(updated_at), 0) AS mx, "
        "COALESCE(sum(updated_at % 2147483647), 0) AS sm FROM ol_jobs) j, "
        "(SELECT count(*) AS n, COALESCE(max(updated_at), 0) AS mx, "
        "COALESCE(sum(updated_at % 2147483647), 0) AS sm FROM ol_datasets) d",
        NULL, 0, &qrc, err, sizeof(err));
    if (!r) {
        lineage_db_err(w->e, qrc, "lineage graph", err);
        return -1;
    }
    w->fp_jobs = meta_result_int(r, 0, 0);
    w->fp_dss = meta_result_int(r, 0, 1);
    w->fp_edges = meta_result_int(r, 0, 2);
    if (w->fp_jobs + w->fp_dss <= GRAPH_SNAP_NODES && w->fp_edges <= GRAPH_MEM_EDGES) {
        size_t o = 0;
        for (int i = 0; i < 7 && o < sizeof(w->fp); i++) {
            const char *v = meta_result_get(r, 0, i);
            int k = snprintf(w->fp + o, sizeof(w->fp) - o, "%s ", v ? v : "-");
            if (k > 0) o += (size_t)k;
        }
    } else {
        atomic_store(&w->lg->graph_big_until, lineage_now_us() + 60000000);
    }
    meta_result_free(r);
    return 0;
}

/* Loads the edge table and renders every job and dataset; publishes the snapshot and uses it
 * for this walk. 0 (also when the tables turned out too large: no snapshot), -1 on error. */
static int snap_build(walk *w)
{
    graph_snap *sn = calloc(1, sizeof(*sn));
    if (!sn) goto oom;
    snprintf(sn->fp, sizeof(sn->fp), "%s", w->fp);
    buf_init(&sn->arena, 0);
    sn->refs = 1;
    sn->jn = calloc((size_t)w->fp_jobs + 1, sizeof(*sn->jn));
    sn->dn = calloc((size_t)w->fp_dss + 1, sizeof(*sn->dn));
    if (!sn->jn || !sn->dn || idset_init(&sn->jobs) || idset_init(&sn->dss)) goto oom;
    int rc = memgraph_load(w, &sn->g);
    if (rc <= 0) {
        snap_free(sn);
        w->fp[0] = 0;
        return rc;
    }
    load_arg ja = {sn->jn, &sn->arena, 1, &sn->jobs, (size_t)w->fp_jobs};
    load_arg da = {sn->dn, &sn->arena, 0, &sn->dss, (size_t)w->fp_dss};
    if (query_rows(w, "SELECT " NODE_COLS " FROM ol_jobs", on_node, &ja) ||
        query_rows(w, "SELECT " NODE_COLS " FROM ol_datasets", on_node, &da)) {
        snap_free(sn);
        return -1;
    }
    sn->ix = graph_index_build(sn); /* NULL (out of memory): requests walk the edge table */
    pthread_mutex_lock(&w->lg->gsnap_mu);
    graph_snap *old = w->lg->gsnap;
    w->lg->gsnap = sn;
    sn->refs++; /* the published reference; the walk holds the first */
    pthread_mutex_unlock(&w->lg->gsnap_mu);
    snap_unref(w->lg, old);
    w->snap = sn;
    return 0;
oom:
    snap_free(sn);
    dlb_err_set(w->e, 500, "internal_error", "out of memory");
    return -1;
}

typedef struct {
    const gnode *g;
    const char *arena;
} sort_ref;

static int cmp_nodes(const void *x, const void *y)
{
    const sort_ref *a = x, *b = y;
    return strcmp(a->arena + a->g->id, b->arena + b->g->id);
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

typedef struct {
    const gnode *nodes;
    const char *arena;
    const uint32_t *from, *to;
    int out; /* sorting out-edges (by destination) or in-edges (by origin) */
} edge_order;

static int cmp_edge(const void *x, const void *y, void *ctx)
{
    const edge_order *o = ctx;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    const gnode *na = &o->nodes[o->out ? o->to[a] : o->from[a]];
    const gnode *nb = &o->nodes[o->out ? o->to[b] : o->from[b]];
    return strcmp(o->arena + na->id, o->arena + nb->id);
}

/* Counts (p NULL) or copies (p sized by the counting pass). */
typedef struct {
    char *p;
    size_t n;
} gwriter;

static void put(gwriter *w, const char *s, size_t n)
{
    if (w->p) memcpy(w->p + w->n, s, n);
    w->n += n;
}
#define PUT(w, lit) put((w), (lit), sizeof(lit) - 1)

/* Writes {"graph": [...]} into out: nodes sorted by id, each with its inEdges and outEdges in
 * the order the walk found them. The JSON is written straight into a buffer: for ~10k nodes
 * and ~4 MB, building it as jansson objects cost seconds per request (bench/lineage). */
static char *build(walk *w, size_t *len)
{
    size_t nj = w->jobs.n, nd = w->dss.n, n = nj + nd;
    gnode *nodes = calloc(n + 1, sizeof(*nodes));
    uint32_t *ein = NULL, *eout = NULL; /* edge indexes per node (CSR) */
    sort_ref *all = NULL;
    buf_t arena;
    buf_init(&arena, 0);
    gwriter wr = {0};
    if (!nodes) goto oom;
    load_arg ja = {nodes, &arena, 1, NULL, 0}, da = {nodes + nj, &arena, 0, NULL, 0};
    const char *A;
    if (w->snap) { /* rendered already: copy the pieces' offsets */
        const graph_snap *sn = w->snap;
        for (size_t k = 0; k < n; k++) {
            int i = k < nj ? idset_find(&sn->jobs, w->jobs.order[k])
                           : idset_find(&sn->dss, w->dss.order[k - nj]);
            if (i >= 0) nodes[k] = k < nj ? sn->jn[i] : sn->dn[i];
        }
        A = sn->arena.data;
    } else {
        if (in_chunks(w, "SELECT " NODE_COLS " FROM ol_jobs WHERE id IN ", "", w->jobs.order, nj,
                      on_node, &ja) ||
            in_chunks(w, "SELECT " NODE_COLS " FROM ol_datasets WHERE id IN ", "", w->dss.order, nd,
                      on_node, &da))
            goto done;
        A = arena.data;
    }
    /* Edge lists: count, then place (each edge is the origin's out- and the destination's
     * in-edge; edges with a node whose row is gone are left out). */
    uint32_t *from = malloc((w->nedges + 1) * sizeof(*from)), *to = NULL;
    if (!from) goto oom;
    to = malloc((w->nedges + 1) * sizeof(*to));
    ein = malloc((w->nedges + 1) * sizeof(*ein));
    eout = malloc((w->nedges + 1) * sizeof(*eout));
    if (!to || !ein || !eout) {
        free(from);
        free(to);
        goto oom;
    }
    for (size_t i = 0; i < w->nedges; i++) {
        const edge *ed = &w->edges[i];
        int ji = idset_find(&w->jobs, ed->job), di = idset_find(&w->dss, ed->ds);
        uint32_t j = ji < 0 ? UINT32_MAX : (uint32_t)ji;
        uint32_t d = di < 0 ? UINT32_MAX : (uint32_t)(nj + (size_t)di);
        if (j == UINT32_MAX || d == UINT32_MAX || !nodes[j].present || !nodes[d].present) {
            from[i] = to[i] = UINT32_MAX;
            continue;
        }
        from[i] = ed->out ? j : d;
        to[i] = ed->out ? d : j;
        nodes[from[i]].nout++;
        nodes[to[i]].nin++;
    }
    uint32_t oi = 0, ii = 0;
    for (size_t k = 0; k < n; k++) {
        nodes[k].out0 = oi;
        nodes[k].in0 = ii;
        oi += nodes[k].nout;
        ii += nodes[k].nin;
        nodes[k].nout = nodes[k].nin = 0; /* refilled below */
    }
    for (size_t i = 0; i < w->nedges; i++) {
        if (from[i] == UINT32_MAX) continue;
        gnode *f = &nodes[from[i]], *t = &nodes[to[i]];
        eout[f->out0 + f->nout++] = (uint32_t)i;
        ein[t->in0 + t->nin++] = (uint32_t)i;
    }
    /* Each list in the order of the far end's id, so the answer does not depend on the order
     * the walk met the edges (SQL or memory). */
    edge_order eo = {nodes, A, from, to, 0};
    for (size_t k = 0; k < n; k++) {
        eo.out = 0;
        if (nodes[k].nin > 1)
            qsort_r(ein + nodes[k].in0, nodes[k].nin, sizeof(*ein), cmp_edge, &eo);
        eo.out = 1;
        if (nodes[k].nout > 1)
            qsort_r(eout + nodes[k].out0, nodes[k].nout, sizeof(*eout), cmp_edge, &eo);
    }
    all = malloc((n + 1) * sizeof(*all));
    if (!all) {
        free(from);
        free(to);
        goto oom;
    }
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (nodes[k].present) all[m++] = (sort_ref){&nodes[k], A};
    qsort(all, m, sizeof(*all), cmp_nodes);

    /* Two passes over the same writer: the first counts, the second copies into one
     * allocation of exactly that size (no regrowth of a multi-megabyte buffer). */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            wr.p = malloc(wr.n + 1);
            if (!wr.p) {
                free(from);
                free(to);
                goto oom;
            }
            wr.n = 0;
        }
        PUT(&wr, "{\"graph\":[");
        for (size_t k = 0; k < m; k++) {
            const gnode *g = all[k].g;
            if (k) PUT(&wr, ",");
            PUT(&wr, "{\"id\":");
            put(&wr, A + g->qid, g->qlen);
            PUT(&wr, ",");
            put(&wr, A + g->data, g->dlen);
            for (int dir = 0; dir < 2; dir++) {
                const uint32_t *list = dir ? eout + g->out0 : ein + g->in0;
                uint32_t cnt = dir ? g->nout : g->nin;
                if (dir)
                    PUT(&wr, "],\"outEdges\":[");
                else
                    PUT(&wr, ",\"inEdges\":[");
                for (uint32_t q = 0; q < cnt; q++) {
                    const gnode *o = &nodes[from[list[q]]], *d = &nodes[to[list[q]]];
                    if (q) PUT(&wr, ",");
                    PUT(&wr, "{\"origin\":");
                    put(&wr, A + o->qid, o->qlen);
                    PUT(&wr, ",\"destination\":");
                    put(&wr, A + d->qid, d->qlen);
                    PUT(&wr, "}");
                }
            }
            PUT(&wr, "]}");
        }
        PUT(&wr, "]}");
    }
    wr.p[wr.n] = 0;
    *len = wr.n;
    free(from);
    free(to);
    goto done;
oom:
    dlb_err_set(w->e, 500, "internal_error", "out of memory");
done:
    free(all);
    free(ein);
    free(eout);
    free(nodes);
    buf_free(&arena);
    return wr.p;
}

char *lineage_graph_json(lineage_t *lg, const char *node_id, int depth, size_t *len, dlb_err *e)
{
    walk w = {.lg = lg, .e = e};
    if (idset_init(&w.jobs) || idset_init(&w.dss) || idset_init(&w.edge_keys)) {
        idset_free(&w.jobs);
        idset_free(&w.dss);
        idset_free(&w.edge_keys);
        dlb_err_set(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    char *out = NULL;
    w.c = meta_acquire(lg->meta);
    if (!w.c) {
        dlb_err_set(e, 503, "database_unavailable", "no metadata database connection");
        goto done;
    }
    int is_job = 0;
    int64_t start = 0;
    if (resolve(&w, node_id, &is_job, &start)) goto done;
    /* Deep walks may use (or build) the in-memory snapshot of the graph. */
    if (depth >= 2) {
        if (take_fingerprint(&w)) goto done;
        pthread_mutex_lock(&lg->gsnap_mu);
        if (w.fp[0] && lg->gsnap && !strcmp(lg->gsnap->fp, w.fp)) {
            w.snap = lg->gsnap;
            w.snap->refs++;
        }
        pthread_mutex_unlock(&lg->gsnap_mu);
    }
    int maxd = 2 * depth + (is_job ? 0 : 1);
    if (w.snap && w.snap->ix) {
        int missing = 0;
        out = graph_index_answer(w.snap->ix, is_job, start, maxd, len, &missing);
        if (out) goto done;
        if (!missing) {
            dlb_err_set(e, 500, "internal_error", "out of memory");
            goto done;
        }
    }
    if (bfs(&w, is_job, start, maxd)) goto done;
    out = build(&w, len);
done:
    snap_unref(lg, w.snap);
    if (w.c) meta_release(lg->meta, w.c);
    idset_free(&w.jobs);
    idset_free(&w.dss);
    idset_free(&w.edge_keys);
    free(w.edges);
    return out;
}
