// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for vici.c.  The input is one VICI segment without its
 * length prefix, as charon's answer reaches vici_parse().  Whatever
 * parses is walked element by element and encoded again with the writer:
 * the result must be the same bytes (the format has one encoding per
 * tree), and the root-section lookups the daemon uses must not fail on it.
 */
#include <stdint.h>
#include <string.h>

#include "apps/strongswan/vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[VICI_SEGMENT_MAX + 4 + 300];
	struct vici_packet pkt;
	struct vici_writer w;
	struct vici_iter it;
	struct vici_elem e;
	char v[64], err[128];
	long n;
	int ret;

	if (vici_parse(data, size, &pkt, err, sizeof(err)) < 0)
		return 0;
	vici_begin(&w, out, sizeof(out), pkt.type, pkt.name);
	vici_iter_init(&it, pkt.msg, pkt.msg_len);
	while ((ret = vici_next(&it, &e, err, sizeof(err))) > 0) {
		switch (e.type) {
		case VICI_SECTION_START:
			vici_section_start(&w, e.name);
			break;
		case VICI_SECTION_END:
			vici_section_end(&w);
			break;
		case VICI_KEY_VALUE:
			vici_kv(&w, e.name, e.value, e.value_len);
			break;
		case VICI_LIST_START:
			vici_list_start(&w, e.name);
			break;
		case VICI_LIST_ITEM:
			vici_list_item(&w, e.value, e.value_len);
			break;
		case VICI_LIST_END:
			vici_list_end(&w);
			break;
		}
	}
	if (ret < 0)
		__builtin_trap();	/* vici_parse validated it */
	n = vici_finish(&w);
	if (n != (long)size + 4 || memcmp(out + 4, data, size))
		__builtin_trap();
	vici_get_str(pkt.msg, pkt.msg_len, "success", v, sizeof(v));
	vici_check_success(pkt.msg, pkt.msg_len, err, sizeof(err));
	return 0;
}
