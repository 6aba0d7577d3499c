/* JSON text of values, straight from the vectors: scalars (shared with CSV, which asks for the
 * raw form) and nested values. */
#include "engine/encode_internal.h"

static inline __int128 get_i128(const duckdb_hugeint *h)
{
    return (__int128)(((unsigned __int128)(uint64_t)h->upper << 64) | h->lower);
}

static inline unsigned __int128 get_u128(const duckdb_uhugeint *h)
{
    return ((unsigned __int128)h->upper << 64) | h->lower;
}

static int put_special_float(ebuf *b, int special, int json)
{
    if (json) return EBUF_LIT(b, "null");
    if (special == 1) return EBUF_LIT(b, "inf");
    if (special == 2) return EBUF_LIT(b, "-inf");
    return EBUF_LIT(b, "nan");
}

/* Strings in JSON (escaped, quoted) or raw (for CSV, which quotes). */
static int put_text(ebuf *b, const char *s, size_t n, int json)
{
    return json ? enc_json_string(b, s, n) : ebuf_put(b, s, n);
}

int enc_scalar(ebuf *b, const ecol *c, size_t i, int json)
{
    if (ebuf_reserve(b, ENC_SCALAR_MAX)) return -1;
    char *o = b->p + b->len;
    size_t n = 0;
    int special = 0;
    switch (c->t) {
    case DUCKDB_TYPE_BOOLEAN:
        return ((const bool *)c->data)[i] ? EBUF_LIT(b, "true") : EBUF_LIT(b, "false");
    case DUCKDB_TYPE_TINYINT:
        n = fmt_i64(o, ((const int8_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_SMALLINT:
        n = fmt_i64(o, ((const int16_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_INTEGER:
        n = fmt_i64(o, ((const int32_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_BIGINT:
        n = fmt_i64(o, ((const int64_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_UTINYINT:
        n = fmt_u64(o, ((const uint8_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_USMALLINT:
        n = fmt_u64(o, ((const uint16_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_UINTEGER:
        n = fmt_u64(o, ((const uint32_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_UBIGINT:
        n = fmt_u64(o, ((const uint64_t *)c->data)[i]);
        break;
    case DUCKDB_TYPE_HUGEINT:
        n = fmt_i128(o, get_i128(&((const duckdb_hugeint *)c->data)[i]));
        break;
    case DUCKDB_TYPE_UHUGEINT:
        n = fmt_u128(o, get_u128(&((const duckdb_uhugeint *)c->data)[i]));
        break;
    case DUCKDB_TYPE_FLOAT:
        n = fmt_float(o, ((const float *)c->data)[i], &special);
        if (special) return put_special_float(b, special, json);
        break;
    case DUCKDB_TYPE_DOUBLE:
        n = fmt_double(o, ((const double *)c->data)[i], &special);
        if (special) return put_special_float(b, special, json);
        break;
    case DUCKDB_TYPE_DECIMAL: {
        __int128 v;
        switch (c->phys) {
        case DUCKDB_TYPE_SMALLINT:
            v = ((const int16_t *)c->data)[i];
            break;
        case DUCKDB_TYPE_INTEGER:
            v = ((const int32_t *)c->data)[i];
            break;
        case DUCKDB_TYPE_BIGINT:
            v = ((const int64_t *)c->data)[i];
            break;
        default:
            v = get_i128(&((const duckdb_hugeint *)c->data)[i]);
            break;
        }
        n = fmt_decimal(o, v, c->scale);
        break;
    }
    case DUCKDB_TYPE_DATE:
    case DUCKDB_TYPE_TIME:
    case DUCKDB_TYPE_TIME_NS:
    case DUCKDB_TYPE_TIME_TZ:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
    case DUCKDB_TYPE_INTERVAL:
    case DUCKDB_TYPE_UUID: {
        char *t = o + (json ? 1 : 0);
        switch (c->t) {
        case DUCKDB_TYPE_DATE:
            n = fmt_date(t, ((const int32_t *)c->data)[i]);
            break;
        case DUCKDB_TYPE_TIME:
            n = fmt_time_us(t, ((const int64_t *)c->data)[i]);
            break;
        case DUCKDB_TYPE_TIME_NS:
            n = fmt_time_ns(t, ((const int64_t *)c->data)[i]);
            break;
        case DUCKDB_TYPE_TIME_TZ:
            n = fmt_time_tz(t, ((const uint64_t *)c->data)[i]);
            break;
        case DUCKDB_TYPE_TIMESTAMP:
            n = fmt_timestamp(t, ((const int64_t *)c->data)[i], 6, 0);
            break;
        case DUCKDB_TYPE_TIMESTAMP_S:
            n = fmt_timestamp(t, ((const int64_t *)c->data)[i], 0, 0);
            break;
        case DUCKDB_TYPE_TIMESTAMP_MS:
            n = fmt_timestamp(t, ((const int64_t *)c->data)[i], 3, 0);
            break;
        case DUCKDB_TYPE_TIMESTAMP_NS:
            n = fmt_timestamp(t, ((const int64_t *)c->data)[i], 9, 0);
            break;
        case DUCKDB_TYPE_TIMESTAMP_TZ:
            n = fmt_timestamp(t, ((const int64_t *)c->data)[i], 6, 1);
            break;
        case DUCKDB_TYPE_INTERVAL:
            n = fmt_interval(t, ((const duckdb_interval *)c->data)[i]);
            break;
        default:
            n = fmt_uuid(t, ((const duckdb_hugeint *)c->data)[i]);
            break;
        }
        if (json) {
            o[0] = '"';
            o[n + 1] = '"';
            n += 2;
        }
        break;
    }
    case DUCKDB_TYPE_VARCHAR: {
        uint32_t len;
        const char *s = dstr_ptr(&((const duckdb_string_t *)c->data)[i], &len);
        if (json && c->is_json) return ebuf_put(b, s, len);
        return put_text(b, s, len, json);
    }
    case DUCKDB_TYPE_BLOB: {
        uint32_t len;
        const char *s = dstr_ptr(&((const duckdb_string_t *)c->data)[i], &len);
        if (!json) return enc_blob_text(b, (const uint8_t *)s, len);
        if (ebuf_putc(b, '"') || enc_base64(b, (const uint8_t *)s, len)) return -1;
        return ebuf_putc(b, '"');
    }
    case DUCKDB_TYPE_BIT: {
        uint32_t len;
        const char *s = dstr_ptr(&((const duckdb_string_t *)c->data)[i], &len);
        if (json && ebuf_putc(b, '"')) return -1;
        if (enc_bits(b, (const uint8_t *)s, len)) return -1;
        return json ? ebuf_putc(b, '"') : 0;
    }
    case DUCKDB_TYPE_ENUM: {
        uint32_t k;
        switch (c->phys) {
        case DUCKDB_TYPE_UTINYINT:
            k = ((const uint8_t *)c->data)[i];
            break;
        case DUCKDB_TYPE_USMALLINT:
            k = ((const uint16_t *)c->data)[i];
            break;
        default:
            k = ((const uint32_t *)c->data)[i];
            break;
        }
        if (k >= c->ndict) return json ? EBUF_LIT(b, "null") : 0;
        return json ? ebuf_put(b, c->dict_json[k], c->dict_json_len[k])
                    : ebuf_put(b, c->dict_raw[k], c->dict_raw_len[k]);
    }
    default: /* SQLNULL */
        return json ? EBUF_LIT(b, "null") : 0;
    }
    b->len += n;
    return 0;
}

int enc_json_value(ebuf *b, const ecol *c, size_t i)
{
    if (!ecol_valid(c, i)) return EBUF_LIT(b, "null");
    switch (c->t) {
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP: {
        const duckdb_list_entry *e = &((const duckdb_list_entry *)c->data)[i];
        const ecol *ch = &c->child[0];
        int obj = c->t == DUCKDB_TYPE_MAP;
        if (ebuf_putc(b, obj && c->string_keys ? '{' : '[')) return -1;
        for (uint64_t k = 0; k < e->length; k++) {
            size_t r = (size_t)(e->offset + k);
            if (k && ebuf_putc(b, ',')) return -1;
            if (!obj) {
                if (enc_json_value(b, ch, r)) return -1;
            } else if (c->string_keys) {
                const ecol *kc = &ch->child[0];
                uint32_t len;
                const char *s = dstr_ptr(&((const duckdb_string_t *)kc->data)[r], &len);
                if (enc_json_string(b, s, len) || ebuf_putc(b, ':') ||
                    enc_json_value(b, &ch->child[1], r))
                    return -1;
            } else {
                if (EBUF_LIT(b, "{\"key\":") || enc_json_value(b, &ch->child[0], r) ||
                    EBUF_LIT(b, ",\"value\":") || enc_json_value(b, &ch->child[1], r) ||
                    ebuf_putc(b, '}'))
                    return -1;
            }
        }
        return ebuf_putc(b, obj && c->string_keys ? '}' : ']');
    }
    case DUCKDB_TYPE_ARRAY: {
        if (ebuf_putc(b, '[')) return -1;
        for (size_t k = 0; k < c->array_size; k++) {
            if (k && ebuf_putc(b, ',')) return -1;
            if (enc_json_value(b, &c->child[0], i * c->array_size + k)) return -1;
        }
        return ebuf_putc(b, ']');
    }
    case DUCKDB_TYPE_STRUCT: {
        if (ebuf_putc(b, '{')) return -1;
        for (size_t k = 0; k < c->nchild; k++) {
            if (k && ebuf_putc(b, ',')) return -1;
            if (ebuf_put(b, c->key_json[k], c->key_json_len[k]) ||
                enc_json_value(b, &c->child[k], i))
                return -1;
        }
        return ebuf_putc(b, '}');
    }
    case DUCKDB_TYPE_UNION: {
        size_t tag = c->tags ? c->tags[i] : 0;
        if (tag >= c->nchild) return EBUF_LIT(b, "null");
        return enc_json_value(b, &c->child[tag], i);
    }
    default:
        return enc_scalar(b, c, i, 1);
    }
}
