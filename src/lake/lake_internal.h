/* Shared by the files of lake/ only. */
#ifndef DLB_LAKE_INTERNAL_H
#define DLB_LAKE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "lake.h"
#include "meta/meta.h"

struct lake {
    const config_t *cfg;
    meta_t *meta;
    int postgres;
    char data_path[4096]; /* as stored in ducklake_metadata: ends with '/' */
    char version[16];
    int read_only;         /* DB_DUCKLAKE_READ_ONLY or a pinned snapshot */
    int64_t pinned_snapshot; /* -1 when not pinned */
    int inlining_row_limit;  /* DB_DUCKLAKE_DATA_INLINING_ROW_LIMIT */
    pthread_mutex_t lock;    /* guards whatever lake/ caches here */
};

#endif
