/* http_svc.h - what a backend built on the service (bridge/service) shares:
 * the regs op's document.  Worker thread. */
#ifndef HTTP_SVC_H
#define HTTP_SVC_H

#include "service.h"
#include "svc_int.h"

/* Appends {"name":"0x...",...} for every register of 64 bits or fewer the
 * target description names and the target answers; returns 0, or -1 with
 * a message in o instead. */
int http_svc_regs_json(svc *s, svc_sb *o);

#endif
