/*
 * netaddr_test: trusted-proxy lists match exact addresses and CIDR ranges
 * of both families at their edges, IPv4-mapped IPv6 peers as IPv4, and
 * refuse every malformed entry instead of trusting something by accident.
 */
#include "check.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void exact_ipv4_matches_only_itself(void) {
    struct netaddr_range *l = netaddr_list_parse("127.0.0.1", NULL, 0);
    CHECK(l != NULL);
    CHECK(netaddr_list_has(l, "127.0.0.1"));
    CHECK(!netaddr_list_has(l, "127.0.0.2"));
    CHECK(!netaddr_list_has(l, "127.0.0.0"));
    CHECK(!netaddr_list_has(l, "::1"));
    CHECK(!netaddr_list_has(l, "not an ip"));
    CHECK(!netaddr_list_has(l, ""));
    netaddr_list_free(l);
}

static void ipv4_cidr_edges(void) {
    struct netaddr_range *l = netaddr_list_parse("172.28.0.0/16", NULL, 0);
    CHECK(l != NULL);
    CHECK(netaddr_list_has(l, "172.28.0.0"));
    CHECK(netaddr_list_has(l, "172.28.0.10"));
    CHECK(netaddr_list_has(l, "172.28.255.255"));
    CHECK(!netaddr_list_has(l, "172.29.0.0"));
    CHECK(!netaddr_list_has(l, "172.27.255.255"));
    netaddr_list_free(l);
    /* a prefix that is not a whole number of bytes */
    l = netaddr_list_parse("10.0.0.64/27", NULL, 0);
    CHECK(l != NULL);
    CHECK(!netaddr_list_has(l, "10.0.0.63"));
    CHECK(netaddr_list_has(l, "10.0.0.64"));
    CHECK(netaddr_list_has(l, "10.0.0.95"));
    CHECK(!netaddr_list_has(l, "10.0.0.96"));
    netaddr_list_free(l);
    /* host bits beyond the prefix are cleared, not refused */
    l = netaddr_list_parse("10.1.2.3/8", NULL, 0);
    CHECK(l && l[0].prefix == 8 && netaddr_list_has(l, "10.200.0.1") &&
          !netaddr_list_has(l, "11.0.0.1"));
    netaddr_list_free(l);
    l = netaddr_list_parse("0.0.0.0/0", NULL, 0);
    CHECK(l && netaddr_list_has(l, "8.8.8.8") && !netaddr_list_has(l, "2001:db8::1"));
    netaddr_list_free(l);
}

static void ipv6_exact_and_cidr(void) {
    struct netaddr_range *l = netaddr_list_parse("::1, fd00:1234::/32 ,2001:db8::80/121", NULL, 0);
    CHECK(l != NULL);
    CHECK(netaddr_list_has(l, "::1"));
    CHECK(!netaddr_list_has(l, "::2"));
    CHECK(netaddr_list_has(l, "fd00:1234:ffff::1"));
    CHECK(!netaddr_list_has(l, "fd00:1235::1"));
    CHECK(netaddr_list_has(l, "2001:db8::80"));
    CHECK(netaddr_list_has(l, "2001:db8::ff"));
    CHECK(!netaddr_list_has(l, "2001:db8::7f"));
    CHECK(!netaddr_list_has(l, "2001:db8::100"));
    CHECK(!netaddr_list_has(l, "127.0.0.1"));
    netaddr_list_free(l);
}

static void mapped_ipv6_peer_matches_ipv4_range(void) {
    struct netaddr_range *l = netaddr_list_parse("192.168.5.0/24", NULL, 0);
    CHECK(netaddr_list_has(l, "::ffff:192.168.5.7"));
    CHECK(!netaddr_list_has(l, "::ffff:192.168.6.7"));
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.5.200", &s6.sin6_addr);
    CHECK(netaddr_list_has_sockaddr(l, (struct sockaddr *)&s6));
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.168.5.1", &s4.sin_addr);
    CHECK(netaddr_list_has_sockaddr(l, (struct sockaddr *)&s4));
    inet_pton(AF_INET, "192.168.50.1", &s4.sin_addr);
    CHECK(!netaddr_list_has_sockaddr(l, (struct sockaddr *)&s4));
    CHECK(!netaddr_list_has_sockaddr(l, NULL));
    CHECK(!netaddr_list_has_sockaddr(NULL, (struct sockaddr *)&s4));
    netaddr_list_free(l);
}

static void empty_list_trusts_nobody(void) {
    struct netaddr_range *l = netaddr_list_parse("", NULL, 0);
    CHECK(l != NULL && l[0].family == 0);
    CHECK(!netaddr_list_has(l, "127.0.0.1"));
    netaddr_list_free(l);
    l = netaddr_list_parse(" , ,", NULL, 0);
    CHECK(l != NULL && l[0].family == 0);
    netaddr_list_free(l);
    l = netaddr_list_parse(NULL, NULL, 0);
    CHECK(l != NULL && l[0].family == 0);
    netaddr_list_free(l);
    netaddr_list_free(NULL);
}

static void malformed_entries_are_refused_and_named(void) {
    const char *bad[] = {"127.0.0.1/33", "::1/129",       "10.0.0.0/", "10.0.0.0/-1",
                         "10.0.0.0/8x",  "10.0.0.0/0008", "localhost", "10.0.0",
                         "10.0.0.0/8/8", "1.2.3.4 5",     "256.0.0.1", "/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct netaddr_range r;
        CHECK(netaddr_range_parse(bad[i], &r) == -1);
    }
    char named[32] = "";
    struct netaddr_range *l =
        netaddr_list_parse("127.0.0.1, 172.28.0.0/99 ,::1", named, sizeof(named));
    CHECK(l == NULL);
    CHECK(strcmp(named, "172.28.0.0/99") == 0);
    char tiny[5] = "";
    CHECK(netaddr_list_parse("banana", tiny, sizeof(tiny)) == NULL);
    CHECK(strcmp(tiny, "bana") == 0);
}

int main(void) {
    exact_ipv4_matches_only_itself();
    ipv4_cidr_edges();
    ipv6_exact_and_cidr();
    mapped_ipv6_peer_matches_ipv4_range();
    empty_list_trusts_nobody();
    malformed_entries_are_refused_and_named();
    return check_result("netaddr_test");
}
