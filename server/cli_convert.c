/* DESIGN: `transformerd convert-llama2c` is a thin shell over model_convert_llama2c
 * (models/llama2c.c): parse the three paths, convert, say where the result is. */
#include <stdio.h>

#include "models/model.h"
#include "server/cli.h"
#include "server/cli_args.h"

int cli_convert_llama2c(int argc, char **argv) {
    const char *ckpt = NULL, *tok = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"checkpoint", CLI_STR, &ckpt, 0, 0, "FILE", "llama2.c checkpoint (.bin, legacy format)", 1},
        {"tokenizer", CLI_STR, &tok, 0, 0, "FILE", "llama2.c tokenizer (tok*.bin)", 1},
        {"out", CLI_STR, &out, 0, 0, "DIR", "Hugging Face checkpoint directory to write", 1},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = cli_parse("convert-llama2c", opts, n_opts, argc, argv);
    if (rc != 0) {
        if (rc > 0)
            cli_usage(stdout, "convert-llama2c",
                      "Convert a llama2.c checkpoint and tokenizer into a Hugging Face Llama directory.",
                      opts, n_opts);
        return rc > 0 ? 0 : 2;
    }
    tf_err err = {0};
    if (model_convert_llama2c(ckpt, tok, out, &err) < 0) {
        fprintf(stderr, "transformerd convert-llama2c: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s (LlamaForCausalLM)\n", out);
    return 0;
}
