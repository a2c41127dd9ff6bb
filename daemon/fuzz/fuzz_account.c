// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the accounting record parser (mgmt/account.c): the
 * input is the contents of accounting.log or accounting.journal.  Walked
 * as the daemon does at start (acct_scan()), and frame by frame: every
 * frame that decodes must encode again to a frame that decodes to the same
 * record, as the version its kind has (1: an SAE pair, 2: a consumer, with
 * a link), the walk never reads past the input, and what it keeps (the
 * good prefix) plus what it skipped never exceeds it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/account.h"

static size_t n_records;

static void count(void *arg, const struct acct_record *r, size_t end)
{
	size_t len = *(const size_t *)arg;

	if (end > len || !r->seq || r->start > r->end)
		abort();
	n_records++;
}

static void check_round_trip(const struct acct_record *r)
{
	uint8_t buf[ACCT_FRAME_MAX];
	struct acct_record again;
	size_t len = acct_record_encode(r, buf);

	if (len > ACCT_FRAME_MAX ||
	    (buf[ACCT_HDR_LEN] == 2) != (r->link[0] != '\0') ||
	    acct_record_decode(buf, len, &again) != (long)len ||
	    memcmp(r, &again, sizeof(*r)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acct_record r;
	size_t off = 0, skipped, good, n = 0;
	long len;

	n_records = 0;
	good = acct_scan(data, size, count, &size, &skipped);
	if (good > size || skipped > size)
		abort();
	while (off < size) {
		len = acct_record_decode(data + off, size - off, &r);
		if (len > 0) {
			if ((size_t)len > size - off)
				abort();
			check_round_trip(&r);
			off += (size_t)len;
			n++;
		} else {
			off++;
		}
	}
	if (n != n_records)
		abort();
	return 0;
}
