/* bare_mhd: the baseline of the catalogue benchmark (bench/run.sh). A libmicrohttpd responder
 * that does nothing but answer every request with one small fixed JSON body, set up exactly as
 * src/http/server.c sets up attachd: internal polling thread pool with epoll, the same thread
 * count, connection limit, timeout and per-connection memory, and the answer queued on the
 * second call of the access handler (a response queued on the first call makes libmicrohttpd
 * 0.9.75 close the connection, so keep-alive would be lost and the baseline would be slow).
 *
 *   bare_mhd PORT THREADS     serve until SIGTERM or SIGINT
 *
 * The body is a persistent buffer (no copy); a response object is made per request, as attachd
 * makes one, so the baseline pays the same libmicrohttpd costs and nothing else. */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] = "{\"items\":[{\"code\":\"gp\",\"norm\":1700}],\"next_cursor\":null}";

/* Any non-NULL pointer marks "seen once"; the connection state needs nothing else. */
static int first_call_seen;

/* Reads a whole number in [min, max]; false when s is not one. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
    char *end = NULL;
    if (!s || s[0] < '0' || s[0] > '9')
        return 0;
    unsigned long n = strtoul(s, &end, 10);
    if (*end || n < min || n > max)
        return 0;
    *out = (unsigned)n;
    return 1;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (!*con_cls) {
        *con_cls = &first_call_seen;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is read and dropped */
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    unsigned port = 0, threads = 0;
    if (argc != 3 || !parse_uint(argv[1], 1, 65535, &port) ||
        !parse_uint(argv[2], 1, 256, &threads)) {
        fprintf(stderr, "usage: %s PORT THREADS\n", argv[0]);
        return 2;
    }
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by libmicrohttpd's threads */
    signal(SIGPIPE, SIG_IGN);

    /* The flags and options of server_start() in src/http/server.c (connection limit and
     * timeout at attachd's defaults, ATTACHD_CONN_LIMIT and ATTACHD_CONN_TIMEOUT). */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_access, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        0u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "bare_mhd: cannot listen on port %u\n", port);
        return 1;
    }
    fprintf(stderr, "bare_mhd: listening on port %u with %u threads\n", port, threads);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    MHD_stop_daemon(daemon);
    return 0;
}
