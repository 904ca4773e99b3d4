/*  fx_conf.h: everything that used to live here, by subject:
        fx_kv.h     "key = value" files
        fx_creds.h  credentials files and keypairs
        fx_curve.h  CurveZMQ sockets and the ZAP handler
        fx_clock.h  clocks (common/)
        fx_file.h   atomic files, folders, fx_self_dir (common/)
    New code includes the header it uses; this one remains so that code
    written before the split still builds. */
#ifndef FX_CONF_H
#define FX_CONF_H

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_file.h"
#include "fx_kv.h"

#endif
