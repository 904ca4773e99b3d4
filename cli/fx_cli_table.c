/*  fx_cli_table.c: a plain text table, columns padded to their widest cell. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

/* Display width of UTF-8 text: code points, not bytes. */
static size_t s_width(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

void fx_cli_table_print_page(FILE *out, char **cells, uint32_t rows, uint32_t cols, size_t *width,
                             uint32_t first)
{
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < cols; c++) {
            const char *cell = cells[r * cols + c];
            size_t w = s_width(cell ? cell : "");
            if (w > width[c])
                width[c] = w;
        }
    for (uint32_t r = first; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            const char *cell = cells[r * cols + c] ? cells[r * cols + c] : "";
            fputs(cell, out);
            if (c + 1 < cols)
                fprintf(out, "%*s", (int) (width[c] - s_width(cell) + 2), "");
        }
        fputc('\n', out);
    }
}

void fx_cli_table_print(FILE *out, char **cells, uint32_t rows, uint32_t cols)
{
    if (rows == 0 || cols == 0)
        return;
    size_t *width = calloc(cols, sizeof *width);
    if (width == NULL)
        return;
    fx_cli_table_print_page(out, cells, rows, cols, width, 0);
    free(width);
}
