/* stub */
#include "fxb_scen.h"
int fxb_broker(fxb_ctx_t *ctx) { (void) ctx; return 1; }
