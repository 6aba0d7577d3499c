#include "zombie.h"

const char *ev_zombie_reason(const ev_zombie_input *in, const ev_zombie_rules *r)
{
    if (in->write_errors > r->max_write_errors) return "write_errors";
    if (in->queue_full_count >= r->queue_full_count && in->queue_high)
        return "queue_consistently_full";
    if (in->now - in->last_activity > r->inactivity) return "timeout";
    /* Pong evidence counts only from clients that pong, or once the socket is not healthy. */
    int healthy = in->write_errors == 0;
    int pongs = in->last_pong_at > 0;
    if ((pongs || !healthy) && in->missed_pings > r->max_missed_pings) return "missed_pings";
    if (!healthy && !pongs && in->first_ping_at > 0 &&
        in->now - in->first_ping_at > r->pong_timeout)
        return "no_pong_response";
    return 0;
}
