/* The column plan of the encoders: what each (possibly nested) column is, built once from its
 * logical type, and bound to the vectors of every chunk. */
#include "engine/encode_internal.h"

#include <stdio.h>
#include <stdlib.h>

static int oom(dlb_err *err)
{
    dlb_err_set(err, 500, "out_of_memory", "out of memory while preparing the result encoder");
    return -1;
}

/* The JSON key form of name: "name": (escaped). */
static int make_key(const char *name, char **out, size_t *out_len)
{
    ebuf b = {0};
    if (enc_json_string(&b, name, strlen(name)) || ebuf_putc(&b, ':')) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

static int build_enum(ecol *col, duckdb_logical_type type)
{
    col->phys = duckdb_enum_internal_type(type);
    col->ndict = duckdb_enum_dictionary_size(type);
    col->dict_json = calloc(col->ndict ? col->ndict : 1, sizeof(char *));
    col->dict_raw = calloc(col->ndict ? col->ndict : 1, sizeof(char *));
    col->dict_json_len = calloc(col->ndict ? col->ndict : 1, sizeof(size_t));
    col->dict_raw_len = calloc(col->ndict ? col->ndict : 1, sizeof(size_t));
    if (!col->dict_json || !col->dict_raw || !col->dict_json_len || !col->dict_raw_len) return -1;
    for (uint32_t k = 0; k < col->ndict; k++) {
        char *v = duckdb_enum_dictionary_value(type, k);
        if (!v) return -1;
        ebuf b = {0};
        int rc = enc_json_string(&b, v, strlen(v));
        col->dict_raw_len[k] = strlen(v);
        col->dict_raw[k] = malloc(col->dict_raw_len[k] + 1);
        if (col->dict_raw[k]) memcpy(col->dict_raw[k], v, col->dict_raw_len[k] + 1);
        duckdb_free(v);
        col->dict_json[k] = b.p;
        col->dict_json_len[k] = b.len;
        if (rc || !col->dict_raw[k]) return -1;
    }
    return 0;
}

static int build_children(ecol *col, duckdb_logical_type type, const char *path, int is_union,
                          dlb_err *err)
{
    size_t n =
        is_union ? duckdb_union_type_member_count(type) : duckdb_struct_type_child_count(type);
    col->nchild = n;
    col->child = calloc(n ? n : 1, sizeof(ecol));
    col->key_json = calloc(n ? n : 1, sizeof(char *));
    col->key_json_len = calloc(n ? n : 1, sizeof(size_t));
    if (!col->child || !col->key_json || !col->key_json_len) return oom(err);
    for (size_t k = 0; k < n; k++) {
        char *name = is_union ? duckdb_union_type_member_name(type, k)
                              : duckdb_struct_type_child_name(type, k);
        duckdb_logical_type ct = is_union ? duckdb_union_type_member_type(type, k)
                                          : duckdb_struct_type_child_type(type, k);
        char sub[512];
        snprintf(sub, sizeof(sub), "%s.%s", path, name ? name : "?");
        int rc = name ? make_key(name, &col->key_json[k], &col->key_json_len[k]) : -1;
        duckdb_free(name);
        if (rc) {
            duckdb_destroy_logical_type(&ct);
            return oom(err);
        }
        rc = ecol_build(&col->child[k], ct, sub, err);
        duckdb_destroy_logical_type(&ct);
        if (rc) return -1;
    }
    return 0;
}

static int build_one_child(ecol *col, duckdb_logical_type ct, const char *path, dlb_err *err)
{
    col->nchild = 1;
    col->child = calloc(1, sizeof(ecol));
    if (!col->child) return oom(err);
    char sub[512];
    snprintf(sub, sizeof(sub), "%s[]", path);
    return ecol_build(&col->child[0], ct, sub, err);
}

int ecol_build(ecol *col, duckdb_logical_type type, const char *path, dlb_err *err)
{
    memset(col, 0, sizeof(*col));
    col->t = duckdb_get_type_id(type);
    switch (col->t) {
    case DUCKDB_TYPE_BOOLEAN:
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DATE:
    case DUCKDB_TYPE_TIME:
    case DUCKDB_TYPE_TIME_TZ:
    case DUCKDB_TYPE_TIME_NS:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
    case DUCKDB_TYPE_INTERVAL:
    case DUCKDB_TYPE_UUID:
    case DUCKDB_TYPE_BLOB:
    case DUCKDB_TYPE_BIT:
    case DUCKDB_TYPE_SQLNULL:
        return 0;
    case DUCKDB_TYPE_VARCHAR: {
        char *alias = duckdb_logical_type_get_alias(type);
        col->is_json = alias && strcmp(alias, "JSON") == 0;
        duckdb_free(alias);
        return 0;
    }
    case DUCKDB_TYPE_DECIMAL:
        col->phys = duckdb_decimal_internal_type(type);
        col->scale = duckdb_decimal_scale(type);
        return 0;
    case DUCKDB_TYPE_ENUM:
        return build_enum(col, type) ? oom(err) : 0;
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_MAP: {
        duckdb_logical_type ct = col->t == DUCKDB_TYPE_ARRAY ? duckdb_array_type_child_type(type)
                                                             : duckdb_list_type_child_type(type);
        if (col->t == DUCKDB_TYPE_ARRAY) col->array_size = duckdb_array_type_array_size(type);
        int rc = build_one_child(col, ct, path, err);
        duckdb_destroy_logical_type(&ct);
        if (rc) return -1;
        if (col->t == DUCKDB_TYPE_MAP)
            col->string_keys = col->child[0].nchild == 2 &&
                               col->child[0].child[0].t == DUCKDB_TYPE_VARCHAR &&
                               !col->child[0].child[0].is_json;
        return 0;
    }
    case DUCKDB_TYPE_STRUCT:
        return build_children(col, type, path, 0, err);
    case DUCKDB_TYPE_UNION:
        return build_children(col, type, path, 1, err);
    default:
        dlb_err_set(err, 422, "unsupported_type",
                    "column %s has a type (DuckDB type id %d) the result encoders cannot write; "
                    "CAST it to VARCHAR in the query",
                    path, (int)col->t);
        col->t = DUCKDB_TYPE_INVALID;
        return -1;
    }
}

void ecol_free(ecol *col)
{
    for (uint32_t k = 0; k < col->ndict; k++) {
        if (col->dict_json) free(col->dict_json[k]);
        if (col->dict_raw) free(col->dict_raw[k]);
    }
    free(col->dict_json);
    free(col->dict_raw);
    free(col->dict_json_len);
    free(col->dict_raw_len);
    for (size_t k = 0; k < col->nchild; k++) {
        if (col->child) ecol_free(&col->child[k]);
        if (col->key_json) free(col->key_json[k]);
    }
    free(col->child);
    free(col->key_json);
    free(col->key_json_len);
    memset(col, 0, sizeof(*col));
}

void ecol_bind(ecol *col, duckdb_vector vec)
{
    col->data = duckdb_vector_get_data(vec);
    col->valid = duckdb_vector_get_validity(vec);
    switch (col->t) {
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP:
        ecol_bind(&col->child[0], duckdb_list_vector_get_child(vec));
        break;
    case DUCKDB_TYPE_ARRAY:
        ecol_bind(&col->child[0], duckdb_array_vector_get_child(vec));
        break;
    case DUCKDB_TYPE_STRUCT:
        for (size_t k = 0; k < col->nchild; k++)
            ecol_bind(&col->child[k], duckdb_struct_vector_get_child(vec, k));
        break;
    case DUCKDB_TYPE_UNION:
        /* A union is a struct whose first entry holds the member tags. */
        col->tags = duckdb_vector_get_data(duckdb_struct_vector_get_child(vec, 0));
        for (size_t k = 0; k < col->nchild; k++)
            ecol_bind(&col->child[k], duckdb_struct_vector_get_child(vec, k + 1));
        break;
    default:
        break;
    }
}
