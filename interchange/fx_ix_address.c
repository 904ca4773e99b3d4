/*  fx_ix_address.c: interface names and addresses through getifaddrs
    (fx_ix_address.h). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fx_ix_address.h"

/* "lo 127.0.0.1, eth0 10.0.0.5" into out: what there is to choose from. */
static void s_list(const struct ifaddrs *all, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (const struct ifaddrs *a = all; a && len < cap; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
            continue;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((const struct sockaddr_in *) a->ifa_addr)->sin_addr, ip, sizeof ip);
        len += (size_t) snprintf(out + len, cap - len, "%s%s %s", len ? ", " : "", a->ifa_name, ip);
    }
    if (!out[0])
        snprintf(out, cap, "none with an IPv4 address");
}

int fx_ix_address_resolve(const char *text, char *ip, size_t iplen, char *err, size_t errlen)
{
    struct in_addr want;
    bool is_address = inet_pton(AF_INET, text, &want) == 1;
    if (!is_address && strchr(text, ':')) {
        snprintf(err, errlen,
                 "%s: IPv6 is not supported for the managers' port; name an interface or an "
                 "IPv4 address",
                 text);
        return -1;
    }
    if (is_address && want.s_addr == htonl(INADDR_ANY)) {
        snprintf(err, errlen,
                 "0.0.0.0 is not an address compute nodes can dial; name an interface or one "
                 "of its addresses");
        return -1;
    }
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) != 0) {
        snprintf(err, errlen, "cannot list this machine's network interfaces (getifaddrs failed)");
        return -1;
    }
    bool named = false;
    int rc = -1;
    for (const struct ifaddrs *a = all; a && rc != 0; a = a->ifa_next) {
        if (!is_address && strcmp(a->ifa_name, text) == 0)
            named = true;
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr have = ((const struct sockaddr_in *) a->ifa_addr)->sin_addr;
        if (is_address ? have.s_addr == want.s_addr : strcmp(a->ifa_name, text) == 0) {
            inet_ntop(AF_INET, &have, ip, (socklen_t) iplen);
            rc = 0;
        }
    }
    if (rc != 0) {
        char there[1024];
        s_list(all, there, sizeof there);
        if (is_address)
            snprintf(err, errlen, "no network interface of this machine has the address %s (interfaces: %s)",
                     text, there);
        else if (named)
            snprintf(err, errlen, "interface %s has no IPv4 address (interfaces: %s)", text, there);
        else
            snprintf(err, errlen, "no network interface is named %s (interfaces: %s)", text, there);
    }
    freeifaddrs(all);
    return rc;
}
