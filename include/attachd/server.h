/* The HTTP server: libmicrohttpd with an internal pool of epoll worker threads. */
#ifndef ATTACHD_SERVER_H
#define ATTACHD_SERVER_H

#include "attachd/config.h"
#include "attachd/http.h"

struct server;

/* Starts listening; NULL (logged) when the port cannot be bound. */
struct server *server_start(const struct attachd_config *cfg, struct app *app);
/* Stops accepting, lets requests in flight finish (up to grace_seconds), then stops. */
void server_stop(struct server *srv, unsigned grace_seconds);

/* The whole request path below libmicrohttpd, for unit tests: routes, authenticates and runs
 * the handler, leaving the outcome in res. */
void server_dispatch(struct request *req, struct response *res);

#endif
