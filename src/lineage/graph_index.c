/* The lineage graph snapshot indexed for whole answers (see graph_internal.h). A depth-20
 * answer over 10k nodes used to spend most of its CPU hashing ids into per-request sets and
 * sorting nodes and edge lists by their string ids (bench/lineage); all of that depends only
 * on the snapshot, so it is done here once, and a request is left with a breadth-first pass
 * over arrays and the write of the pieces rendered by the snapshot. */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct graph_index {
    size_t nu, nj; /* nodes: jobs are [0, nj), datasets [nj, nu) */
    idset uj, ud;  /* job ids -> u, dataset ids -> u - nj */
    const gnode *node;
    gnode *own;      /* node pieces by u (present 0 for ends of edges without a row) */
    uint32_t *order; /* nodes with a row, in answer order (by id) */
    uint32_t *rank;  /* position in order by u, NONE without a row */
    size_t norder, ne;
    uint32_t *from, *to;   /* origin and destination of each edge */
    uint32_t *aoff, *adj;  /* the edges at each node, either end (the walk) */
    uint32_t *ioff, *iadj; /* in-edges by node, by the origin's rank */
    uint32_t *ooff, *oadj; /* out-edges by node, by the destination's rank */
    /* Pre-rendered: per node '{"id":...,<data>,"inEdges":[', per edge
     * ',{"origin":...,"destination":...}' (the comma skipped for a list's first), as offsets
     * into text: a request copies whole pieces. */
    buf_t text;
    size_t *head, *edge;
    uint32_t *head_len, *edge_len;
};

void graph_index_free(struct graph_index *ix)
{
    if (!ix) return;
    idset_free(&ix->uj);
    idset_free(&ix->ud);
    free(ix->own);
    free(ix->order);
    free(ix->rank);
    free(ix->from);
    free(ix->to);
    free(ix->aoff);
    free(ix->adj);
    free(ix->ioff);
    free(ix->iadj);
    free(ix->ooff);
    free(ix->oadj);
    buf_free(&ix->text);
    free(ix->head);
    free(ix->edge);
    free(ix->head_len);
    free(ix->edge_len);
    free(ix);
}

static int cmp_ids(const void *x, const void *y, void *ctx)
{
    const struct graph_index *ix = ((const void **)ctx)[0];
    const char *arena = ((const void **)ctx)[1];
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return strcmp(arena + ix->node[a].id, arena + ix->node[b].id);
}

/* Edge lists sort by the far end's rank: ctx points at (rank, far-end array). */
static int cmp_far(const void *x, const void *y, void *ctx)
{
    const uint32_t *const *c = ctx;
    uint32_t a = c[0][c[1][*(const uint32_t *)x]], b = c[0][c[1][*(const uint32_t *)y]];
    return a < b ? -1 : a > b;
}

/* CSR of the edges by the node key[e] (and, when key2, also by key2[e]). */
static int group(size_t nu, size_t ne, const uint32_t *key, const uint32_t *key2, uint32_t **off,
                 uint32_t **adj)
{
    *off = calloc(nu + 2, sizeof(**off));
    *adj = malloc((ne * (key2 ? 2 : 1) + 1) * sizeof(**adj));
    if (!*off || !*adj) return -1;
    for (size_t e = 0; e < ne; e++) {
        (*off)[key[e] + 2]++;
        if (key2) (*off)[key2[e] + 2]++;
    }
    for (size_t k = 2; k < nu + 2; k++)
        (*off)[k] += (*off)[k - 1];
    for (size_t e = 0; e < ne; e++) { /* off[k + 1] runs as the fill cursor of node k */
        (*adj)[(*off)[key[e] + 1]++] = (uint32_t)e;
        if (key2) (*adj)[(*off)[key2[e] + 1]++] = (uint32_t)e;
    }
    return 0;
}

static int number_nodes(struct graph_index *ix, const graph_snap *sn)
{
    if (idset_init(&ix->uj) || idset_init(&ix->ud)) return -1;
    for (size_t k = 0; k < sn->jobs.n; k++)
        if (idset_add(&ix->uj, sn->jobs.order[k]) < 0) return -1;
    for (size_t k = 0; k < sn->g.jobs.n; k++)
        if (idset_add(&ix->uj, sn->g.jobs.order[k]) < 0) return -1;
    for (size_t k = 0; k < sn->dss.n; k++)
        if (idset_add(&ix->ud, sn->dss.order[k]) < 0) return -1;
    for (size_t k = 0; k < sn->g.dss.n; k++)
        if (idset_add(&ix->ud, sn->g.dss.order[k]) < 0) return -1;
    ix->nj = ix->uj.n;
    ix->nu = ix->nj + ix->ud.n;
    ix->own = calloc(ix->nu + 1, sizeof(*ix->own));
    ix->order = malloc((ix->nu + 1) * sizeof(*ix->order));
    ix->rank = malloc((ix->nu + 1) * sizeof(*ix->rank));
    if (!ix->own || !ix->order || !ix->rank) return -1;
    /* The snapshot's rows come first in both sets, in the order of jn and dn. */
    if (sn->jobs.n) memcpy(ix->own, sn->jn, sn->jobs.n * sizeof(*ix->own));
    if (sn->dss.n) memcpy(ix->own + ix->nj, sn->dn, sn->dss.n * sizeof(*ix->own));
    ix->node = ix->own;
    for (size_t u = 0; u < ix->nu; u++) {
        ix->rank[u] = NONE;
        if (ix->node[u].present) ix->order[ix->norder++] = (uint32_t)u;
    }
    const void *ctx[2] = {ix, sn->arena.data};
    qsort_r(ix->order, ix->norder, sizeof(*ix->order), cmp_ids, ctx);
    for (size_t k = 0; k < ix->norder; k++)
        ix->rank[ix->order[k]] = (uint32_t)k;
    return 0;
}

static int number_edges(struct graph_index *ix, const memgraph *g)
{
    ix->from = malloc((g->n + 1) * sizeof(*ix->from));
    ix->to = malloc((g->n + 1) * sizeof(*ix->to));
    idset keys;
    if (!ix->from || !ix->to || idset_init(&keys)) return -1;
    int rc = 0;
    for (size_t e = 0; rc == 0 && e < g->n; e++) {
        /* One edge per (job, dataset, direction), keyed like the walk over the tables. */
        int64_t key = ((g->ej[e] & 0x3fffffff) << 32 | (g->ed[e] & 0x7fffffff) << 1 | g->eo[e]) + 1;
        int added = idset_add(&keys, key);
        if (added < 0) rc = -1;
        if (added <= 0) continue;
        uint32_t j = (uint32_t)idset_find(&ix->uj, g->ej[e]);
        uint32_t d = (uint32_t)(ix->nj + (size_t)idset_find(&ix->ud, g->ed[e]));
        ix->from[ix->ne] = g->eo[e] ? j : d;
        ix->to[ix->ne] = g->eo[e] ? d : j;
        ix->ne++;
    }
    idset_free(&keys);
    if (rc) return -1;
    if (group(ix->nu, ix->ne, ix->from, ix->to, &ix->aoff, &ix->adj) ||
        group(ix->nu, ix->ne, ix->to, NULL, &ix->ioff, &ix->iadj) ||
        group(ix->nu, ix->ne, ix->from, NULL, &ix->ooff, &ix->oadj))
        return -1;
    const uint32_t *by_origin[2] = {ix->rank, ix->from}, *by_dest[2] = {ix->rank, ix->to};
    for (size_t u = 0; u < ix->nu; u++) {
        uint32_t ni = ix->ioff[u + 1] - ix->ioff[u], no = ix->ooff[u + 1] - ix->ooff[u];
        if (ni > 1)
            qsort_r(ix->iadj + ix->ioff[u], ni, sizeof(*ix->iadj), cmp_far, (void *)by_origin);
        if (no > 1)
            qsort_r(ix->oadj + ix->ooff[u], no, sizeof(*ix->oadj), cmp_far, (void *)by_dest);
    }
    return 0;
}

static int render(struct graph_index *ix, const char *A)
{
    buf_t *b = &ix->text;
    buf_init(b, 0);
    ix->head = calloc(ix->nu + 1, sizeof(*ix->head));
    ix->head_len = calloc(ix->nu + 1, sizeof(*ix->head_len));
    ix->edge = calloc(ix->ne + 1, sizeof(*ix->edge));
    ix->edge_len = calloc(ix->ne + 1, sizeof(*ix->edge_len));
    if (!ix->head || !ix->head_len || !ix->edge || !ix->edge_len) return -1;
    int rc = 0;
    for (size_t u = 0; u < ix->nu; u++) {
        const gnode *g = &ix->node[u];
        if (!g->present) continue;
        ix->head[u] = b->len;
        rc |= buf_appends(b, "{\"id\":");
        rc |= buf_append(b, A + g->qid, g->qlen);
        rc |= buf_append(b, ",", 1);
        rc |= buf_append(b, A + g->data, g->dlen);
        rc |= buf_appends(b, ",\"inEdges\":[");
        ix->head_len[u] = (uint32_t)(b->len - ix->head[u]);
    }
    for (size_t e = 0; e < ix->ne; e++) {
        const gnode *f = &ix->node[ix->from[e]], *t = &ix->node[ix->to[e]];
        if (!f->present || !t->present) continue;
        ix->edge[e] = b->len;
        rc |= buf_appends(b, ",{\"origin\":");
        rc |= buf_append(b, A + f->qid, f->qlen);
        rc |= buf_appends(b, ",\"destination\":");
        rc |= buf_append(b, A + t->qid, t->qlen);
        rc |= buf_append(b, "}", 1);
        ix->edge_len[e] = (uint32_t)(b->len - ix->edge[e]);
    }
    return rc ? -1 : 0;
}

struct graph_index *graph_index_build(const graph_snap *sn)
{
    struct graph_index *ix = calloc(1, sizeof(*ix));
    if (!ix) return NULL;
    if (number_nodes(ix, sn) || number_edges(ix, &sn->g) || render(ix, sn->arena.data)) {
        graph_index_free(ix);
        return NULL;
    }
    return ix;
}

/* The answer under construction: grows by doubling (large blocks move by remapping). */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        size_t nc = o->cap ? o->cap : 1 << 16;
        while (o->n + n + 1 > nc)
            nc *= 2;
        char *np = o->oom ? NULL : realloc(o->p, nc);
        if (!np) {
            o->oom = 1;
            return;
        }
        o->p = np;
        o->cap = nc;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}
#define PUT(o, lit) put((o), (lit), sizeof(lit) - 1)

/* An edge is in the answer when the walk went along it (it left a node fewer than maxd hops
 * from the start) and both its ends have rows. */
static int edge_in(const struct graph_index *ix, const int32_t *dist, uint32_t e, int maxd)
{
    uint32_t f = ix->from[e], t = ix->to[e];
    if (dist[f] < 0 || dist[t] < 0 || !ix->node[f].present || !ix->node[t].present) return 0;
    return (dist[f] < dist[t] ? dist[f] : dist[t]) < maxd;
}

static void put_edges(out_t *o, const struct graph_index *ix, const int32_t *dist,
                      const uint32_t *list, uint32_t n, int maxd)
{
    int first = 1;
    for (uint32_t q = 0; q < n; q++) {
        uint32_t e = list[q];
        if (!edge_in(ix, dist, e, maxd)) continue;
        put(o, ix->text.data + ix->edge[e] + first, ix->edge_len[e] - (uint32_t)first);
        first = 0;
    }
}

char *graph_index_answer(const struct graph_index *ix, int is_job, int64_t id, int maxd,
                         size_t *len, int *missing)
{
    *missing = 0;
    int k = idset_find(is_job ? &ix->uj : &ix->ud, id);
    if (k < 0) {
        *missing = 1;
        return NULL;
    }
    uint32_t start = (uint32_t)(is_job ? (size_t)k : ix->nj + (size_t)k);
    int32_t *dist = malloc((ix->nu + 1) * sizeof(*dist));
    uint32_t *queue = malloc((ix->nu + 1) * sizeof(*queue));
    out_t o = {0};
    if (!dist || !queue) {
        o.oom = 1;
        goto done;
    }
    memset(dist, 0xff, ix->nu * sizeof(*dist)); /* -1: not reached */
    size_t head = 0, tail = 0;
    dist[start] = 0;
    queue[tail++] = start;
    while (head < tail) {
        uint32_t x = queue[head++];
        if (dist[x] >= maxd) continue;
        for (uint32_t a = ix->aoff[x]; a < ix->aoff[x + 1]; a++) {
            uint32_t e = ix->adj[a], y = ix->from[e] == x ? ix->to[e] : ix->from[e];
            if (dist[y] >= 0) continue;
            dist[y] = dist[x] + 1;
            queue[tail++] = y;
        }
    }
    PUT(&o, "{\"graph\":[");
    int first = 1;
    for (size_t r = 0; r < ix->norder; r++) {
        uint32_t u = ix->order[r];
        if (dist[u] < 0) continue;
        if (!first) PUT(&o, ",");
        first = 0;
        put(&o, ix->text.data + ix->head[u], ix->head_len[u]);
        put_edges(&o, ix, dist, ix->iadj + ix->ioff[u], ix->ioff[u + 1] - ix->ioff[u], maxd);
        PUT(&o, "],\"outEdges\":[");
        put_edges(&o, ix, dist, ix->oadj + ix->ooff[u], ix->ooff[u + 1] - ix->ooff[u], maxd);
        PUT(&o, "]}");
    }
    PUT(&o, "]}");
    if (!o.oom) {
        o.p[o.n] = 0;
        *len = o.n;
    }
done:
    free(dist);
    free(queue);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
