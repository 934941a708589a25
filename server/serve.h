/* serve.h: `transformerd serve`, the HTTP daemon (see README "## Serving").
 *
 * serve_main parses its own options (server/config.c), loads the models,
 * runs the loop until SIGTERM/SIGINT and a drain, and returns the process exit
 * status: 0 after a clean drain, 1 on a start-up error, 2 on bad usage.
 */
#ifndef TF_SERVER_SERVE_H
#define TF_SERVER_SERVE_H

/* argv holds the argc flags that follow `serve` (main.c passes argc - 2, argv + 2). */
int serve_main(int argc, char **argv);

#endif
