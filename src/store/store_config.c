/* The store as the configuration describes it (STORAGE_*, FEATURE_ENABLE_S3_ENCRYPTION). */
#include "store.h"

#include "config.h"

store_t *store_open_config(const config_t *cfg, dlb_err *e)
{
    store_options o = {
        .backend = cfg->storage_backend,
        .data_dir = cfg->data_dir,
        .endpoint = cfg->storage_minio_endpoint,
        .access_key = cfg->storage_minio_access_key,
        .secret_key = cfg->storage_minio_secret_key,
        .region = cfg->storage_minio_region,
        .secure = cfg->storage_minio_secure,
        .sse = cfg->feature_s3_encryption,
        .multipart_threshold = (uint64_t)cfg->storage_multipart_threshold,
        .timeout = cfg->storage_upload_timeout,
    };
    return store_open(&o, e);
}
