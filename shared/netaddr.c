/*
 * netaddr: parsing of IP/CIDR lists and matching an address against them
 * (see netaddr.h). Comparisons are byte-wise on network-order addresses;
 * nothing here resolves names, so a host name in a list is an error, never
 * a lookup.
 */
#include "netaddr.h"

#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Clears every bit of addr after the first `prefix` bits. */
static void mask_host_bits(unsigned char *addr, int len, int prefix) {
    for (int i = 0; i < len; i++) {
        int keep = prefix - i * 8;
        if (keep >= 8) continue;
        addr[i] = keep <= 0 ? 0 : (unsigned char)(addr[i] & (0xff << (8 - keep)));
    }
}

/* True when the first `prefix` bits of a and b agree. */
static int prefix_equal(const unsigned char *a, const unsigned char *b, int prefix) {
    int whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)whole) != 0) return 0;
    if (rest == 0) return 1;
    unsigned char m = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & m) == (b[whole] & m);
}

int netaddr_range_parse(const char *text, struct netaddr_range *out) {
    char buf[64];
    if (!text || !out) return -1;
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof(buf)) return -1;
    memcpy(buf, text, len + 1);
    char *slash = strchr(buf, '/');
    int prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3) return -1;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') return -1;
            prefix = prefix * 10 + (*p - '0');
        }
    }
    struct netaddr_range r = {0};
    int bits;
    if (inet_pton(AF_INET, buf, r.addr) == 1) {
        r.family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, buf, r.addr) == 1) {
        r.family = AF_INET6;
        bits = 128;
    } else {
        return -1;
    }
    if (prefix > bits) return -1;
    r.prefix = prefix < 0 ? bits : prefix;
    mask_host_bits(r.addr, bits / 8, r.prefix);
    *out = r;
    return 0;
}

struct netaddr_range *netaddr_list_parse(const char *csv, char *bad, size_t badn) {
    struct netaddr_range *list = NULL;
    char **entries = config_list(csv);
    if (!entries) return NULL;
    size_t n = 0;
    while (entries[n])
        n++;
    list = calloc(n + 1, sizeof(*list));
    for (size_t i = 0; list && i < n; i++) {
        if (netaddr_range_parse(entries[i], &list[i]) != 0) {
            if (bad && badn > 0) snprintf(bad, badn, "%s", entries[i]);
            free(list);
            list = NULL;
        }
    }
    config_list_free(entries);
    return list;
}

void netaddr_list_free(struct netaddr_range *list) {
    free(list);
}

/* True when (family, addr) is in a range of list; addr is 4 or 16 bytes. */
static int list_has(const struct netaddr_range *list, int family, const unsigned char *addr) {
    if (family == AF_INET6 && memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) {
        family = AF_INET;
        addr += sizeof(v4mapped);
    }
    for (const struct netaddr_range *r = list; r && r->family; r++)
        if (r->family == family && prefix_equal(r->addr, addr, r->prefix)) return 1;
    return 0;
}

int netaddr_list_has_sockaddr(const struct netaddr_range *list, const struct sockaddr *sa) {
    if (!list || !sa) return 0;
    if (sa->sa_family == AF_INET)
        return list_has(list, AF_INET,
                        (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return list_has(list, AF_INET6,
                        (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

int netaddr_list_has(const struct netaddr_range *list, const char *ip) {
    unsigned char addr[16];
    if (!list || !ip) return 0;
    if (inet_pton(AF_INET, ip, addr) == 1) return list_has(list, AF_INET, addr);
    if (inet_pton(AF_INET6, ip, addr) == 1) return list_has(list, AF_INET6, addr);
    return 0;
}
