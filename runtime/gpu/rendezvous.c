/*
 * rendezvous.c: rank 0 hands the NCCL unique id to the other ranks of a
 * tensor-parallel world over TCP (coll.h), as torchrun's store or
 * llama.cpp's RPC would, but for 128 bytes once.
 *
 * The exchange: a rank connects to rank 0's HOST:PORT and sends 12 bytes,
 * "RFTP", its rank and the world (big-endian u32); rank 0 answers 'Y' and
 * the id, or 'N' and one byte saying why (a world other than its own, a
 * rank out of range, a rank that came already), then closes. Rank 0
 * serves until every other rank has its id or the time is up. A rank that
 * connects before rank 0 listens retries until its own time is up. The
 * channel is not authenticated: it is meant for the hosts of one job,
 * and what it carries is what NCCL's bootstrap would carry anyway.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "runtime/gpu/coll.h"
#include "support/error.h"

enum { HELLO = 12, WHY_WORLD = 1, WHY_RANK = 2, WHY_TWICE = 3 };

struct rt_rendezvous {
    int fd;
    char addr[256];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* "HOST:PORT" (HOST may be [v6]) into getaddrinfo's results */
static rf_status resolve(const char *addr, bool passive, struct addrinfo **res, rf_error *err)
{
    const char *colon = strrchr(addr, ':');
    char host[256], *end;
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host)
        return rf_fail(err, RF_E_ARG, "tensor-parallel address '%s': expected HOST:PORT", addr);
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return rf_fail(err, RF_E_ARG, "tensor-parallel address '%s': the port is not a number from 0 to 65535", addr);
    size_t n = (size_t)(colon - addr);
    bool bracket = n >= 2 && addr[0] == '[' && addr[n - 1] == ']';
    memcpy(host, addr + bracket, n - 2 * bracket);
    host[n - 2 * bracket] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    int rc = getaddrinfo(host, colon + 1, &hints, res);
    if (rc)
        return rf_fail(err, RF_E_ARG, "tensor-parallel address '%s': %s", addr, gai_strerror(rc));
    return RF_OK;
}

/* n bytes of fd, waiting at most until deadline */
static bool read_all(int fd, void *buf, size_t n, double deadline)
{
    for (size_t got = 0; got < n;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t n)
{
    for (size_t put = 0; put < n;) {
        ssize_t k = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        put += (size_t)k;
    }
    return true;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

rf_status rt_rendezvous_listen(const char *addr, rt_rendezvous **out, uint16_t *port, rf_error *err)
{
    *out = NULL;
    struct addrinfo *res;
    rf_status st = resolve(addr, true, &res, err);
    if (st != RF_OK)
        return st;
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        if ((fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol)) < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rf_fail(err, RF_E_IO, "tensor-parallel rank 0 cannot listen on %s: %s", addr, strerror(e));
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (port && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    rt_rendezvous *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    }
    r->fd = fd;
    snprintf(r->addr, sizeof r->addr, "%s", addr);
    *out = r;
    return RF_OK;
}

rf_status rt_rendezvous_serve(rt_rendezvous *r, uint32_t world, const rt_coll_id *id, int timeout_ms, rf_error *err)
{
    double deadline = now_ms() + timeout_ms;
    bool *seen = calloc(world ? world : 1, sizeof *seen);
    if (!seen)
        return rf_fail(err, RF_E_NOMEM, "out of memory");
    uint32_t served = 0;
    while (served + 1 < world) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        unsigned char hello[HELLO], reply[1 + RT_COLL_ID_BYTES] = {'N'};
        size_t n_reply = 2;
        if (read_all(c, hello, HELLO, deadline) && !memcmp(hello, "RFTP", 4)) {
            uint32_t rank = get_u32(hello + 4), w = get_u32(hello + 8);
            reply[1] = w != world ? WHY_WORLD : rank == 0 || rank >= world ? WHY_RANK : seen[rank] ? WHY_TWICE : 0;
            if (!reply[1]) {
                reply[0] = 'Y';
                memcpy(reply + 1, id->bytes, RT_COLL_ID_BYTES);
                n_reply = sizeof reply;
            }
            if (write_all(c, reply, n_reply) && reply[0] == 'Y') {
                seen[rank] = true;
                served++;
            }
        }
        close(c);
    }
    free(seen);
    if (served + 1 < world)
        return rf_fail(err, RF_E_IO, "tensor-parallel rank 0 on %s: %u of the other %u ranks came within %d ms",
                       r->addr, served, world - 1, timeout_ms);
    return RF_OK;
}

void rt_rendezvous_close(rt_rendezvous *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r);
}

/* one connection to rank 0, or -1 (errno set) */
static int dial(const struct addrinfo *res)
{
    int fd = -1;
    for (const struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        if ((fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol)) < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    return fd;
}

rf_status rt_rendezvous_fetch(const char *addr, uint32_t rank, uint32_t world, rt_coll_id *id, int timeout_ms,
                              rf_error *err)
{
    struct addrinfo *res;
    rf_status st = resolve(addr, false, &res, err);
    if (st != RF_OK)
        return st;
    double deadline = now_ms() + timeout_ms;
    int fd;
    while ((fd = dial(res)) < 0 && now_ms() < deadline) /* rank 0 may not listen yet */
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    int e = errno;
    freeaddrinfo(res);
    if (fd < 0)
        return rf_fail(err, RF_E_IO, "tensor-parallel rank %u: no rank 0 listening on %s within %d ms (%s)", rank, addr,
                       timeout_ms, strerror(e));
    unsigned char hello[HELLO], reply[1 + RT_COLL_ID_BYTES];
    memcpy(hello, "RFTP", 4);
    put_u32(hello + 4, rank);
    put_u32(hello + 8, world);
    bool ok = write_all(fd, hello, HELLO) && read_all(fd, reply, 2, deadline) &&
              (reply[0] != 'Y' || read_all(fd, reply + 2, sizeof reply - 2, deadline));
    close(fd);
    if (!ok)
        return rf_fail(err, RF_E_IO, "tensor-parallel rank %u: rank 0 on %s did not answer", rank, addr);
    if (reply[0] != 'Y')
        return rf_fail(err, RF_E_ARG, "tensor-parallel rank %u of %u: rank 0 on %s refused it (%s)", rank, world, addr,
                       reply[1] == WHY_WORLD ? "its world has another size"
                       : reply[1] == WHY_RANK ? "a rank out of range"
                                              : "that rank came already");
    memcpy(id->bytes, reply + 1, RT_COLL_ID_BYTES);
    return RF_OK;
}
