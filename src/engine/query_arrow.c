/* query_run for QF_ARROW: a streaming result written as IPC record batches
 * (engine/arrow/ipc_write.h). When every column is flat, chunks are gathered into batches of up
 * to ARROW_BATCH_ROWS rows straight from the vectors (engine/encode_arrow.h); otherwise each
 * DuckDB chunk is turned into an Arrow array by DuckDB (duckdb_data_chunk_to_arrow, the
 * connection's Arrow options) and written as one record batch. Both follow the schema
 * duckdb_to_arrow_schema gives. UUIDs, which DuckDB's default options export as text, are
 * marked with the arrow.uuid extension so that the writer sends them as fixed-size binary(16). */
#include "engine/query_internal.h"

#include "engine/arrow/abi.h"
#include "engine/arrow/ipc_write.h"
#include "engine/encode_arrow.h"

#include <stdlib.h>
#include <string.h>

/* { 1 pair: "ARROW:extension:name" = "arrow.uuid" } in the C Data Interface layout. */
static const char uuid_meta[] = "\x01\x00\x00\x00"
                                "\x14\x00\x00\x00"
                                "ARROW:extension:name"
                                "\x0a\x00\x00\x00"
                                "arrow.uuid";

typedef struct {
    struct ArrowSchema *node;
    const char *meta;
} meta_swap;

/* Marks the UUID nodes of s (type t), remembering what to restore. */
static void mark_uuids(struct ArrowSchema *s, duckdb_logical_type t, meta_swap *sw, size_t *n,
                       size_t cap)
{
    duckdb_type id = duckdb_get_type_id(t);
    const char *f = s->format ? s->format : "";
    if (id == DUCKDB_TYPE_UUID && strcmp(f, "u") == 0 && !s->metadata && *n < cap) {
        sw[*n].node = s;
        sw[*n].meta = s->metadata;
        (*n)++;
        s->metadata = uuid_meta;
        return;
    }
    if ((id == DUCKDB_TYPE_LIST || id == DUCKDB_TYPE_ARRAY) && s->n_children == 1) {
        duckdb_logical_type c = id == DUCKDB_TYPE_LIST ? duckdb_list_type_child_type(t)
                                                       : duckdb_array_type_child_type(t);
        mark_uuids(s->children[0], c, sw, n, cap);
        duckdb_destroy_logical_type(&c);
    } else if (id == DUCKDB_TYPE_STRUCT) {
        idx_t k = duckdb_struct_type_child_count(t);
        for (idx_t i = 0; i < k && (int64_t)i < s->n_children; i++) {
            duckdb_logical_type c = duckdb_struct_type_child_type(t, i);
            mark_uuids(s->children[i], c, sw, n, cap);
            duckdb_destroy_logical_type(&c);
        }
    } else if (id == DUCKDB_TYPE_MAP && s->n_children == 1 && s->children[0]->n_children == 2) {
        duckdb_logical_type k = duckdb_map_type_key_type(t), v = duckdb_map_type_value_type(t);
        mark_uuids(s->children[0]->children[0], k, sw, n, cap);
        mark_uuids(s->children[0]->children[1], v, sw, n, cap);
        duckdb_destroy_logical_type(&k);
        duckdb_destroy_logical_type(&v);
    }
}

static int duck_error(duckdb_error_data e, int status, const char *code, dlb_err *err)
{
    if (!e) return 0;
    int bad = duckdb_error_data_has_error(e);
    if (bad) {
        const char *m = duckdb_error_data_message(e);
        dlb_err_set(err, status, code, "%s", m ? m : "Arrow conversion failed");
    }
    duckdb_destroy_error_data(&e);
    return bad ? -1 : 0;
}

/* Writes the rows the batcher holds as one record batch (none when it holds none). */
static int batch_out(ipc_writer *w, arrow_batcher *bt, dlb_err *err)
{
    struct ArrowArray a;
    arrow_batcher_batch(bt, &a);
    int rc = a.length > 0 ? ipc_writer_batch(w, &a, err) : 0;
    arrow_batcher_reset(bt);
    return rc;
}

int query_run_arrow(duckdb_connection con, duckdb_prepared_statement st, const query_limits *lim,
                    query_sink sink, void *sink_ctx, query_outcome *out, dlb_err *err)
{
    duckdb_result res;
    if (duckdb_execute_prepared_streaming(st, &res) == DuckDBError) {
        query_map_error(duckdb_result_error_type(&res), duckdb_result_error(&res), err);
        duckdb_destroy_result(&res);
        return -1;
    }
    int rc = -1;
    query_columns cols = {0};
    ipc_writer *w = NULL;
    arrow_batcher *bt = NULL;
    duckdb_arrow_options opts = NULL;
    struct ArrowSchema schema;
    memset(&schema, 0, sizeof(schema));
    if (query_columns_get(&res, &cols, err)) goto done;
    duckdb_connection_get_arrow_options(con, &opts);
    if (duck_error(duckdb_to_arrow_schema(opts, cols.types, cols.names, cols.n, &schema), 422,
                   "unsupported_type", err))
        goto done;
    meta_swap sw[256];
    size_t nsw = 0;
    for (size_t k = 0; k < cols.n && (int64_t)k < schema.n_children; k++)
        mark_uuids(schema.children[k], cols.types[k], sw, &nsw, sizeof(sw) / sizeof(sw[0]));
    w = ipc_writer_new(&schema, 0, lim ? lim->chunk_bytes : 0, sink, sink_ctx, err);
    for (size_t k = 0; k < nsw; k++)
        sw[k].node->metadata = sw[k].meta;
    if (!w) goto done;
    bt = arrow_batcher_new(&schema, cols.types, cols.n);
    query_cap cap = {.max = lim ? lim->max_rows : 0};
    while (!cap.done) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch) {
            if (duckdb_result_error(&res)) {
                query_map_error(duckdb_result_error_type(&res), duckdb_result_error(&res), err);
                goto done;
            }
            break;
        }
        idx_t size = duckdb_data_chunk_get_size(ch);
        int64_t n = query_cap_take(&cap, (int64_t)size);
        if ((idx_t)n < size) duckdb_data_chunk_set_size(ch, (idx_t)n);
        int erc = 0;
        if (bt && n > 0) {
            erc = arrow_batcher_add(bt, ch, (size_t)n, err);
            duckdb_destroy_data_chunk(&ch);
            if (erc < 0) goto done;
            if (erc && batch_out(w, bt, err)) goto enc_failed;
        } else {
            struct ArrowArray arr;
            memset(&arr, 0, sizeof(arr));
            erc = n > 0 ? duck_error(duckdb_data_chunk_to_arrow(opts, ch, &arr), 500,
                                     "internal_error", err)
                        : 0;
            duckdb_destroy_data_chunk(&ch);
            if (erc) goto done;
            if (n > 0) {
                erc = ipc_writer_batch(w, &arr, err);
                if (arr.release) arr.release(&arr);
                if (erc) goto enc_failed;
            }
        }
        out->rows = cap.rows;
        out->truncated = cap.truncated;
    }
    if (bt && batch_out(w, bt, err)) goto enc_failed;
    if (ipc_writer_end(w, err)) goto enc_failed;
    rc = 0;
    goto done;
enc_failed:
    if (ipc_writer_sink_failed(w)) {
        out->client_gone = 1;
        duckdb_interrupt(con);
    }
done:
    if (w) {
        out->started = ipc_writer_started(w);
        out->bytes = ipc_writer_bytes(w);
    }
    ipc_writer_free(w);
    arrow_batcher_free(bt);
    if (schema.release) schema.release(&schema);
    if (opts) duckdb_destroy_arrow_options(&opts);
    query_columns_free(&cols);
    duckdb_destroy_result(&res);
    return rc;
}
