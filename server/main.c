/* transformerd: the single binary. Subcommands are one table; this is the only
 * file that decides the process exit status. */
#include <stdio.h>
#include <string.h>

#include "server/cli.h"
#include "server/serve.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand subcommands[] = {
    {"generate", cli_generate, "continue a prompt with a decoder-only model (GPT-2, Llama)"},
    {"tokenize", cli_tokenize, "print the token ids a model receives for a text"},
    {"translate", cli_translate, "translate text with an encoder-decoder model (T5)"},
    {"summarize", cli_summarize, "summarize text with an encoder-decoder model (T5)"},
    {"serve", serve_main, "run the HTTP daemon (continuous batching; see README \"Serving\")"},
    {"convert-llama2c", cli_convert_llama2c, "turn a llama2.c checkpoint into a Llama directory"},
    {"classify", cli_classify, "label texts with a sequence classifier (BERT, DistilBERT)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: transformerd COMMAND [flags]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  %-16s %s\n", subcommands[i].name, subcommands[i].help);
    fprintf(f, "\n'transformerd COMMAND --help' explains each command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "transformerd: unknown command \"%s\" (see transformerd --help)\n", argv[1]);
    return 2;
}
