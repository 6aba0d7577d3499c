/* Run state and facet merge, independent of the order events arrive in.
 *
 * States form a total order so that any arrival order of the same events ends in the same
 * state: a terminal state (COMPLETE, ABORT, FAIL) beats every other; between terminal states
 * the later eventTime wins (on a tie FAIL > ABORT > COMPLETE); between START and RUNNING the
 * later eventTime wins (on a tie RUNNING); OTHER only fills a run that has no state yet,
 * because OTHER may arrive at any time, even before START, and says nothing about progress. */
#include "internal.h"

#include <string.h>

int ol_state_terminal(const char *t)
{
    return t && (!strcmp(t, "COMPLETE") || !strcmp(t, "ABORT") || !strcmp(t, "FAIL"));
}

static int tie_rank(const char *t)
{
    static const char *const order[] = {"OTHER", "START", "RUNNING", "COMPLETE", "ABORT", "FAIL"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(t, order[i])) return i;
    return -1;
}

int ol_state_wins(const char *cur, int64_t cur_t, const char *next, int64_t next_t)
{
    if (!cur || !*cur) return 1;
    if (!next || !*next) next = "OTHER";
    int ct = ol_state_terminal(cur), nt = ol_state_terminal(next);
    if (ct != nt) return nt;
    if (!ct) {
        if (!strcmp(next, "OTHER")) return 0;
        if (!strcmp(cur, "OTHER")) return 1;
    }
    if (next_t != cur_t) return next_t > cur_t;
    return tie_rank(next) > tie_rank(cur);
}

int ol_facets_merge(json_t *dst, json_t *times, const json_t *src, int64_t t)
{
    if (!json_is_object(src)) return 0;
    int changed = 0;
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)src, key, f)
    {
        if (!json_is_object(f)) continue; /* reported as a deviation; nothing to keep */
        json_t *seen = json_object_get(times, key);
        if (json_is_integer(seen) && json_integer_value(seen) > t) continue; /* older event */
        json_object_set_new(times, key, json_integer(t));
        if (json_is_true(json_object_get(f, "_deleted"))) {
            if (json_object_del(dst, key) == 0) changed = 1;
            continue;
        }
        json_t *old = json_object_get(dst, key);
        if (old && json_equal(old, f)) continue;
        json_object_set(dst, key, f);
        changed = 1;
    }
    return changed;
}
