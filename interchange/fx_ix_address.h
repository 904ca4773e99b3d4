/*  fx_ix_address.h: the interchange's address as compute nodes see it.

    A cluster's login node has several interfaces (Ethernet, InfiniBand,
    loopback) and the managers of a pilot job must dial one they can reach.
    The configuration names it by interface ("ib0") or by address
    ("10.1.2.3"); this turns either into the IPv4 address to bind and to
    hand to the managers, and refuses an address no interface of this
    machine has (a typo would otherwise show only as managers that never
    connect). */
#ifndef FX_IX_ADDRESS_H
#define FX_IX_ADDRESS_H

#include <stddef.h>

/* text: an interface name or an IPv4 address of one of this machine's
   interfaces. Writes the dotted IPv4 address into ip (at least 16 bytes).
   0, or -1 with a sentence in err that lists the interfaces there are. */
int fx_ix_address_resolve(const char *text, char *ip, size_t iplen, char *err, size_t errlen);

#endif
