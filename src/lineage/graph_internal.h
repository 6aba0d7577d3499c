/* Internals of the lineage graph (graph.c, graph_idset.c, graph_index.c). */
#ifndef DLB_LINEAGE_GRAPH_INTERNAL_H
#define DLB_LINEAGE_GRAPH_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Open-addressing set of positive int64 ids, remembering insertion order. */
typedef struct {
    int64_t *slots; /* 0 = empty */
    int *slot_idx;
    size_t cap;
    int64_t *order;
    size_t n, order_cap;
} idset;

int idset_init(idset *s);
void idset_free(idset *s);
/* Index of id (its insertion order), or -1. */
int idset_find(const idset *s, int64_t id);
/* 1 when added, 0 when present, -1 on allocation failure. */
int idset_add(idset *s, int64_t id);

/* One node of the answer: its id ("job:<ns>:<name>") and its rendered JSON pieces, as offsets
 * into the walk's arena (offsets, because the arena moves when it grows). */
typedef struct {
    size_t id;                     /* the raw id, NUL-terminated (for sorting) */
    size_t qid, qlen;              /* the id as a JSON string, quotes included (for edges) */
    size_t data, dlen;             /* '"type":...,"data":{...}' */
    int present;                   /* its row was found */
    uint32_t nin, nout, in0, out0; /* edge lists (indexes into the CSR arrays) */
} gnode;

/* The whole edge table in memory, indexed both ways (CSR: the edges of the k-th job of the
 * set jobs are jadj[joff[k] .. joff[k + 1])). */
typedef struct {
    int64_t *ej, *ed;
    unsigned char *eo;
    size_t n, cap;
    idset jobs, dss;
    uint32_t *joff, *jadj, *doff, *dadj;
} memgraph;

/* An in-memory copy of the whole lineage graph: the edge table and every job and dataset
 * rendered once, shared by the requests that find the tables unchanged (same fingerprint).
 * Immutable once published; freed with its last reference. */
typedef struct graph_snap {
    char fp[200];
    memgraph g;
    idset jobs, dss; /* ids -> index into jn / dn */
    gnode *jn, *dn;
    buf_t arena;
    int refs;               /* under lg->gsnap_mu */
    struct graph_index *ix; /* the walk-and-write index of the snapshot (graph_index.c) */
} graph_snap;

/* The snapshot's graph indexed for whole answers (graph_index.c): every node numbered once,
 * each node's in- and out-edges sorted the way the answer lists them, the nodes in answer
 * order, so that a request is a breadth-first pass over arrays and a write, with no hashing,
 * sorting or string comparison. Built once per snapshot. */
struct graph_index *graph_index_build(const graph_snap *sn);
void graph_index_free(struct graph_index *ix);
/* The answer for the walk from a job or dataset (database id) over maxd hops, written as
 * lineage_graph_json does. NULL with *missing set when the node is not in the snapshot (the
 * caller takes the per-level walk instead); NULL without it when out of memory. */
char *graph_index_answer(const struct graph_index *ix, int is_job, int64_t id, int maxd,
                         size_t *len, int *missing);

#endif
