/* `ducklake-backend keys create|list|revoke`: API key administration from the command line,
 * against the metadata database the configuration names (no server needs to run). */
#include "cli_keys.h"

#include "auth/auth.h"
#include "config.h"
#include "meta/meta.h"
#include "util/log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: ducklake-backend keys create --name NAME --role reader|writer|admin\n"
                    "       ducklake-backend keys list\n"
                    "       ducklake-backend keys revoke KEY_ID\n");
    return 2;
}

int cli_keys(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *cmd = argv[0], *name = NULL, *role = NULL, *id = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!id && argv[i][0] != '-')
            id = argv[i];
        else
            return usage();
    }
    if ((!strcmp(cmd, "create") && (!name || !role)) || (!strcmp(cmd, "revoke") && !id) ||
        (strcmp(cmd, "create") && strcmp(cmd, "list") && strcmp(cmd, "revoke")))
        return usage();

    static config_t cfg;
    char err[8192];
    if (config_load(&cfg, err, sizeof(err))) {
        fprintf(stderr, "ducklake-backend: invalid configuration:\n%s", err);
        config_free(&cfg);
        return 2;
    }
    log_set_level(LOG_WARNING); /* the command's own output is what matters here */
    config_register_secrets(&cfg);
    int rc = 1;
    auth_t *a = NULL;
    meta_t *m = meta_open(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "ducklake-backend: cannot open the metadata database: %s\n", err);
        goto out;
    }
    dlb_err e = {0};
    if (!(a = auth_create(&cfg, m, &e))) {
        fprintf(stderr, "ducklake-backend: %s\n", e.detail);
        goto out;
    }
    if (!strcmp(cmd, "create")) {
        char key[128], kid[32];
        if (auth_key_create(a, name, role, key, sizeof(key), kid, sizeof(kid), &e)) {
            fprintf(stderr, "ducklake-backend: %s\n", e.detail);
            goto out;
        }
        printf("%s\n", key);
        fprintf(stderr, "key %s (%s, role %s) created; it is shown only this once\n", kid, name,
                role);
    } else if (!strcmp(cmd, "list")) {
        json_t *keys = auth_keys_json(a, &e);
        if (!keys) {
            fprintf(stderr, "ducklake-backend: %s\n", e.detail);
            goto out;
        }
        json_dumpf(keys, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(keys);
    } else if (auth_key_revoke(a, id, &e)) {
        fprintf(stderr, "ducklake-backend: %s\n", e.detail);
        goto out;
    } else {
        printf("revoked %s\n", id);
    }
    rc = 0;
out:
    auth_destroy(a);
    meta_close(m);
    config_free(&cfg);
    return rc;
}
