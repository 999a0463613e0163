/*
 * netaddr: IP addresses and CIDR ranges (IPv4 and IPv6) given as text, and
 * whether an address falls in a list of them. The gateway uses it to decide
 * which socket peers are trusted proxies (QW_TRUSTED_PROXIES). An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is matched as the IPv4 address it carries.
 * Pure: no I/O and no logging; it allocates only the list it returns.
 */
#ifndef QW_NETADDR_H
#define QW_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct netaddr_range {
    int family;             /* AF_INET or AF_INET6; 0 ends a list */
    unsigned char addr[16]; /* network address, host bits cleared (4 or 16 bytes used) */
    int prefix;             /* leading bits that must match: 0..32 or 0..128 */
};

/* Parses "addr" (a single host) or "addr/prefix" into *out. Host bits set
 * beyond the prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8). Returns 0, or
 * -1 for anything else (bad address, prefix out of range, stray text). */
int netaddr_range_parse(const char *text, struct netaddr_range *out);

/* Parses a comma separated list of ranges (spaces around entries ignored,
 * empty entries skipped). Returns a malloc'd array ended by an entry of
 * family 0 that the caller frees with netaddr_list_free(); an empty text
 * gives an empty list. On a bad entry returns NULL and copies that entry
 * (truncated to badn-1 chars) into `bad` when it is not NULL. */
struct netaddr_range *netaddr_list_parse(const char *csv, char *bad, size_t badn);

/* Frees a list from netaddr_list_parse(); accepts NULL. */
void netaddr_list_free(struct netaddr_range *list);

/* True when the address `sa` (AF_INET or AF_INET6) is in a range of `list`.
 * A NULL list or address is in nothing. */
int netaddr_list_has_sockaddr(const struct netaddr_range *list, const struct sockaddr *sa);

/* True when the textual address `ip` is in a range of `list`; an
 * unparsable `ip` is in nothing. */
int netaddr_list_has(const struct netaddr_range *list, const char *ip);

#endif
