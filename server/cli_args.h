/* cli_args.h: table-driven flag parsing for the command-line subcommands.
 *
 * Each subcommand declares a static table of cli_opt rows; cli_parse fills
 * the destinations, checks bounds, and prints one clear line on error.
 * cli_usage prints the table as help text, so --help never drifts from the
 * flags actually accepted.
 */
#ifndef TF_SERVER_CLI_ARGS_H
#define TF_SERVER_CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

typedef enum cli_type { CLI_STR, CLI_INT, CLI_FLOAT, CLI_U64, CLI_FLAG, CLI_STR_LIST } cli_type;

typedef struct cli_opt {
    const char *name;  /* without the leading "--" */
    cli_type type;
    void *dst;         /* char**, int*, float*, uint64_t*, int* (flag), cli_list* */
    double min, max;   /* bounds for numbers */
    const char *arg;   /* metavariable for help, e.g. "N" */
    const char *help;
    int required;
} cli_opt;

typedef struct cli_list {
    const char **items; /* borrowed argv strings */
    int n, cap;
} cli_list;

/* Returns 0, 1 when --help was printed, or -1 after printing an error line to stderr. */
int cli_parse(const char *cmd, const cli_opt *opts, int n_opts, int argc, char **argv);
void cli_usage(FILE *f, const char *cmd, const char *summary, const cli_opt *opts, int n_opts);

#endif
