/*  fx_cli_template.h: the commented default config.yaml of a new endpoint
    (fx_cli_template.c), apart from the rest of the command so that a test
    can parse it with fx-endpoint's own reader. */
#ifndef FX_CLI_TEMPLATE_H
#define FX_CLI_TEMPLATE_H

#include <stddef.h>

/* The most a template can take: the text and two quoted paths. */
#define FX_CLI_TEMPLATE_MAX 16384

/* Writes the config for endpoint `name` whose broker credentials file is
   `credentials` (absolute) into out. Its length, or -1 if cap is short. */
int fx_cli_template(const char *name, const char *credentials, char *out, size_t cap);

#endif
