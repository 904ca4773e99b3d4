/* stub */
#include "fxb_scen.h"
int fxb_peers(fxb_ctx_t *ctx) { (void) ctx; return 1; }
