// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for xfrm_nl.c's parser: ACQUIRE and EXPIRE messages built by
 * hand, as xfrm_user sends them, and malformed variants that must be
 * refused.  Plus ipsec.c's key-budget rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <netinet/in.h>

#include "apps/ipsec/ipsec.h"
#include "apps/ipsec/xfrm_nl.h"

static uint8_t buf[4096] __attribute__((aligned(8)));

/* ACQUIRE for ESP A4 -> B4 with @n_tmpl templates (the ESP one last). */
static struct nlmsghdr *acquire(uint16_t family, int mode, int n_tmpl)
{
	struct nlmsghdr *nlh;
	struct xfrm_user_acquire *ua;
	struct xfrm_user_tmpl t[3];

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_ACQUIRE;
	ua = mnl_nlmsg_put_extra_header(nlh, sizeof(*ua));
	ua->id.proto = IPPROTO_ESP;
	ua->sel.family = family;
	if (family == AF_INET6) {
		inet_pton(AF_INET6, "2001:db8::1", &ua->saddr);
		inet_pton(AF_INET6, "2001:db8::2", &ua->id.daddr);
		ua->sel.prefixlen_s = ua->sel.prefixlen_d = 128;
	} else {
		inet_pton(AF_INET, "192.0.2.1", &ua->saddr);
		inet_pton(AF_INET, "192.0.2.2", &ua->id.daddr);
		ua->sel.prefixlen_s = ua->sel.prefixlen_d = 32;
	}
	ua->seq = 42;
	memset(t, 0, sizeof(t));
	for (int i = 0; i < n_tmpl; i++) {
		t[i].family = family;
		t[i].id.proto = i == n_tmpl - 1 ? IPPROTO_ESP : IPPROTO_AH;
		t[i].reqid = 100 + i;
		t[i].mode = mode;
	}
	if (n_tmpl)
		mnl_attr_put(nlh, XFRMA_TMPL, n_tmpl * sizeof(t[0]), t);
	return nlh;
}

static struct nlmsghdr *expire(uint16_t family, int hard)
{
	struct nlmsghdr *nlh;
	struct xfrm_user_expire *ue;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_EXPIRE;
	ue = mnl_nlmsg_put_extra_header(nlh, sizeof(*ue));
	ue->state.family = family;
	ue->state.id.proto = IPPROTO_ESP;
	ue->state.id.spi = htonl(0x1234);
	ue->state.reqid = 100;
	inet_pton(AF_INET, "192.0.2.2", &ue->state.id.daddr);
	inet_pton(AF_INET, "192.0.2.1", &ue->state.saddr);
	ue->hard = (uint8_t)hard;
	return nlh;
}

static int parse(struct nlmsghdr *nlh, struct xfrm_nl_event *ev)
{
	char err[64];

	return xfrm_nl_parse(nlh, nlh->nlmsg_len, ev, err, sizeof(err));
}

static void test_acquire(void **state)
{
	struct xfrm_nl_event ev;
	char a[64];

	assert_int_equal(parse(acquire(AF_INET, XFRM_MODE_TRANSPORT, 1), &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_ACQUIRE);
	assert_int_equal(ev.acquire.reqid, 100);
	assert_int_equal(ev.acquire.mode, XFRM_MODE_TRANSPORT);
	assert_int_equal(ev.acquire.family, AF_INET);
	assert_int_equal(ev.acquire.seq, 42);
	assert_string_equal(xfrm_nl_addr_str(AF_INET, &ev.acquire.saddr, a, sizeof(a)),
			    "192.0.2.1");
	assert_string_equal(xfrm_nl_addr_str(AF_INET, &ev.acquire.daddr, a, sizeof(a)),
			    "192.0.2.2");
	assert_int_equal(ev.acquire.sel.prefixlen_d, 32);

	/* IPv6, tunnel, the ESP template after an AH one. */
	assert_int_equal(parse(acquire(AF_INET6, XFRM_MODE_TUNNEL, 2), &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_ACQUIRE);
	assert_int_equal(ev.acquire.reqid, 101);
	assert_int_equal(ev.acquire.mode, XFRM_MODE_TUNNEL);
	assert_string_equal(xfrm_nl_addr_str(AF_INET6, &ev.acquire.daddr, a, sizeof(a)),
			    "2001:db8::2");
}

static void test_acquire_rejects(void **state)
{
	struct xfrm_nl_event ev;
	struct nlmsghdr *nlh;
	struct nlattr *at;

	/* No ESP template: not ours, but not an error either. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	((struct xfrm_user_tmpl *)mnl_attr_get_payload(
		mnl_nlmsg_get_payload_offset(nlh, sizeof(struct xfrm_user_acquire))))->id.proto =
		IPPROTO_AH;
	assert_int_equal(parse(nlh, &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_IGNORED);
	/* No template at all. */
	assert_int_equal(parse(acquire(AF_INET, XFRM_MODE_TRANSPORT, 0), &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_IGNORED);
	/* BEET mode; a bad family. */
	assert_int_equal(parse(acquire(AF_INET, XFRM_MODE_BEET, 1), &ev), -1);
	assert_int_equal(parse(acquire(AF_UNIX, XFRM_MODE_TRANSPORT, 1), &ev), -1);
	/* Template attribute not a multiple of the struct. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	at = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct xfrm_user_acquire));
	at->nla_len -= 4;
	nlh->nlmsg_len -= 4;
	assert_int_equal(parse(nlh, &ev), -1);
	/* Torn attribute: longer than the message. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	at = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct xfrm_user_acquire));
	at->nla_len += 8;
	assert_int_equal(parse(nlh, &ev), -1);
	/* Two template attributes. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	{
		struct xfrm_user_tmpl t = { .family = AF_INET };

		t.id.proto = IPPROTO_ESP;
		mnl_attr_put(nlh, XFRMA_TMPL, sizeof(t), &t);
	}
	assert_int_equal(parse(nlh, &ev), -1);
	/* Selector prefix too long. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	((struct xfrm_user_acquire *)mnl_nlmsg_get_payload(nlh))->sel.prefixlen_d = 33;
	assert_int_equal(parse(nlh, &ev), -1);
	/* Short message; length beyond the buffer. */
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	nlh->nlmsg_len = sizeof(*nlh) + 8;
	assert_int_equal(parse(nlh, &ev), -1);
	nlh = acquire(AF_INET, XFRM_MODE_TRANSPORT, 1);
	assert_int_equal(xfrm_nl_parse(nlh, nlh->nlmsg_len - 1, &ev, (char[8]){0}, 8), -1);
}

static void test_expire(void **state)
{
	struct xfrm_nl_event ev;
	struct nlmsghdr *nlh;
	char a[64];

	assert_int_equal(parse(expire(AF_INET, 0), &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_EXPIRE);
	assert_int_equal(ev.expire.spi, 0x1234);
	assert_int_equal(ev.expire.proto, IPPROTO_ESP);
	assert_int_equal(ev.expire.reqid, 100);
	assert_false(ev.expire.hard);
	assert_string_equal(xfrm_nl_addr_str(AF_INET, &ev.expire.daddr, a, sizeof(a)),
			    "192.0.2.2");
	assert_int_equal(parse(expire(AF_INET, 1), &ev), 0);
	assert_true(ev.expire.hard);
	assert_int_equal(parse(expire(AF_INET, 2), &ev), -1);
	assert_int_equal(parse(expire(0, 0), &ev), -1);
	nlh = expire(AF_INET, 0);
	nlh->nlmsg_len = sizeof(*nlh) + 16;
	assert_int_equal(parse(nlh, &ev), -1);
	/* Other message types are ignored. */
	nlh = expire(AF_INET, 0);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	assert_int_equal(parse(nlh, &ev), 0);
	assert_int_equal(ev.kind, XFRM_NL_IGNORED);
}

static void count_event(void *arg, const struct xfrm_nl_event *ev)
{
	(*(int *)arg)++;
}

/* The buffer walker: two messages; a length that does not fit stops it. */
static void test_buffer(void **state)
{
	static uint8_t two[8192] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = expire(AF_INET, 0);
	uint32_t n = nlh->nlmsg_len;
	int events = 0;

	memcpy(two, buf, n);
	memcpy(two + NLMSG_ALIGN(n), buf, n);
	assert_int_equal(xfrm_nl_parse_buffer(two, NLMSG_ALIGN(n) + n,
					      count_event, &events), 0);
	assert_int_equal(events, 2);
	/* A length negative as an int (libmnl's walker would follow it). */
	((struct nlmsghdr *)(two + NLMSG_ALIGN(n)))->nlmsg_len = 0xffffff6c;
	events = 0;
	assert_int_equal(xfrm_nl_parse_buffer(two, NLMSG_ALIGN(n) + n,
					      count_event, &events), 1);
	assert_int_equal(events, 1);
	/* Truncated: the second message cut short. */
	((struct nlmsghdr *)(two + NLMSG_ALIGN(n)))->nlmsg_len = n;
	events = 0;
	assert_int_equal(xfrm_nl_parse_buffer(two, NLMSG_ALIGN(n) + n - 1,
					      count_event, &events), 1);
	assert_int_equal(events, 1);
}

static void test_budget(void **state)
{
	/* Plenty of key: the configured lifetime. */
	assert_int_equal(ipsec_budget_lifetime(1, 36, 3, 200000), 1);
	assert_int_equal(ipsec_budget_lifetime(60, 36, 1, 1000), 60);
	/* 3 pairs of 36-byte keys need 2 * 36 * 3 * 32 = 6912 bit/s for
	 * a 1 s lifetime: 4000 bit/s stretch it to 2 s. */
	assert_int_equal(ipsec_budget_lifetime(1, 36, 3, 6912), 1);
	assert_int_equal(ipsec_budget_lifetime(1, 36, 3, 6911), 2);
	assert_int_equal(ipsec_budget_lifetime(1, 36, 3, 4000), 2);
	assert_int_equal(ipsec_budget_lifetime(1, 20, 1, 10), 128);
	/* No key rate: as long as allowed. */
	assert_int_equal(ipsec_budget_lifetime(1, 36, 1, 0), IPSEC_LIFETIME_MAX);
	assert_int_equal(ipsec_budget_lifetime(1, 36, 1000, 1), IPSEC_LIFETIME_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire),
		cmocka_unit_test(test_acquire_rejects),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_buffer),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
