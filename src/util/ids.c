#include "ids.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

int ids_random(void *out, size_t len)
{
    return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

static _Thread_local uint64_t t_state[2];

/* xorshift128+: request ids only need to be unique, not secret. */
static uint64_t next64(void)
{
    if (!t_state[0] && !t_state[1]) {
        if (ids_random(t_state, sizeof(t_state)) || (!t_state[0] && !t_state[1])) {
            t_state[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&t_state;
            t_state[1] = 0x9E3779B97F4A7C15ull;
        }
    }
    uint64_t s1 = t_state[0];
    const uint64_t s0 = t_state[1];
    t_state[0] = s0;
    s1 ^= s1 << 23;
    t_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return t_state[1] + s0;
}

static const char hexd[] = "0123456789abcdef";

void ids_request_id(char out[33])
{
    uint64_t a = next64(), b = next64();
    for (int i = 0; i < 16; i++) {
        out[i] = hexd[(a >> (i * 4)) & 15];
        out[16 + i] = hexd[(b >> (i * 4)) & 15];
    }
    out[32] = 0;
}

int ids_request_id_sane(const char *s)
{
    size_t n = 0;
    if (!s) return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == ':';
        if (!ok || n >= 128) return 0;
    }
    return n > 0;
}

static void format_uuid(const unsigned char b[16], char out[37])
{
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hexd[b[i] >> 4];
        out[o++] = hexd[b[i] & 15];
    }
    out[36] = 0;
}

void ids_uuid4(char out[37])
{
    unsigned char b[16];
    if (ids_random(b, sizeof(b))) {
        uint64_t x = next64(), y = next64();
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

void ids_uuid7(char out[37])
{
    unsigned char b[16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (ids_random(b, sizeof(b))) {
        uint64_t x = next64(), y = next64();
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

int ids_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
