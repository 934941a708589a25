/* cli.h: the one-shot subcommands (generate, tokenize, classify, convert-llama2c, translate,
 * summarize). Each returns the process exit status; main.c is the only place that exits. */
#ifndef TF_SERVER_CLI_H
#define TF_SERVER_CLI_H

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_convert_llama2c(int argc, char **argv);
int cli_translate(int argc, char **argv);  /* server/cli_t5.c */
int cli_summarize(int argc, char **argv);  /* server/cli_t5.c */
int cli_classify(int argc, char **argv);

#endif
