/*  fx_error.c: texts for the error list in fx_error.h. */
#include "fx_error.h"

const char *fx_strerror(int code)
{
    switch (code) {
#define FX_ERROR_TEXT(name, value, text) \
    case value:                          \
        return text;
        FX_ERRORS(FX_ERROR_TEXT)
#undef FX_ERROR_TEXT
    }
    return "unknown error code";
}

const char *fx_errname(int code)
{
    switch (code) {
#define FX_ERROR_NAME(name, value, text) \
    case value:                          \
        return #name;
        FX_ERRORS(FX_ERROR_NAME)
#undef FX_ERROR_NAME
    }
    return "FX_E_UNKNOWN";
}
