// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the /metrics text (metrics.h) and the ETSI 014 request
 * counters it shows (etsi014.h).  The whole exposition is checked against
 * real promtool in selftests/host/metrics.sh; here: label escaping, the
 * counters' classification, and the format rules of a rendering.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alarm.h"
#include "core/config.h"
#include "kma/kma.h"
#include "ksa/etsi014.h"
#include "kx/http.h"
#include "mgmt/ctl.h"
#include "mgmt/metrics.h"

static void test_escape(void **state)
{
	char out[64];

	(void)state;
	metrics_escape(out, sizeof(out), "plain-name_1.x");
	assert_string_equal(out, "plain-name_1.x");
	metrics_escape(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	/* Never cut an escape in half, never overrun. */
	metrics_escape(out, 5, "\"\"\"\"\"");
	assert_string_equal(out, "\\\"");
}

static void test_stats_count(void **state)
{
	struct etsi014_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	etsi014_stats_count(&st, "/api/v1/keys/app2/enc_keys", HTTP_GET, 200, 700);
	etsi014_stats_count(&st, "/api/v1/keys/app2/enc_keys", HTTP_GET, 200, 800);
	etsi014_stats_count(&st, "/api/v1/keys/app1/dec_keys", HTTP_POST, 400, 3000000);
	etsi014_stats_count(&st, "/api/v1/keys/app2/status", HTTP_HEAD, 401, 0);
	etsi014_stats_count(&st, "/nope", HTTP_DELETE, 404, 9000000);
	etsi014_stats_count(&st, NULL, -1, 408, 10);
	etsi014_stats_count(&st, "/api/v1/keys/x/status", HTTP_GET, 418, 10);

	assert_int_equal(st.requests[ETSI014_EP_ENC_KEYS][ETSI014_M_GET][0], 2);
	assert_int_equal(etsi014_stat_codes[1], 400);
	assert_int_equal(st.requests[ETSI014_EP_DEC_KEYS][ETSI014_M_POST][1], 1);
	assert_int_equal(st.requests[ETSI014_EP_STATUS][ETSI014_M_HEAD][2], 1);
	assert_int_equal(st.requests[ETSI014_EP_OTHER][ETSI014_M_OTHER][3], 1);
	assert_int_equal(st.requests[ETSI014_EP_OTHER][ETSI014_M_OTHER][5], 1);
	/* A status it does not list lands in the last slot, "other". */
	assert_int_equal(st.requests[ETSI014_EP_STATUS][ETSI014_M_GET]
				    [ETSI014_STAT_CODES - 1], 1);
	/* 700 and 800 us: the 1 ms bucket; 3 s: the 5 s one; 9 s: +Inf. */
	assert_int_equal(st.lat_bucket[ETSI014_EP_ENC_KEYS][1], 2);
	assert_int_equal(st.lat_bucket[ETSI014_EP_DEC_KEYS][ETSI014_LAT_BUCKETS - 1], 1);
	assert_int_equal(st.lat_bucket[ETSI014_EP_OTHER][ETSI014_LAT_BUCKETS], 1);
	assert_int_equal(st.lat_sum_us[ETSI014_EP_ENC_KEYS], 1500);
}

static bool metric_name_ok(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* Every sample follows the HELP and TYPE of its family, names are valid. */
static void test_render_format(void **state)
{
	struct qkd_config cfg;
	struct ctl_sources src = { .cfg = &cfg };
	char family[128] = "", *text, *line, *save;
	size_t len = 0, samples = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.node.name, "A");
	alarm_reset();
	alarm_raise("peer:\"B\"", "down");
	text = metrics_render(&src, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "\nqkd_alarm_active{source=\"peer:\\\"B\\\"\",severity=\"major\"} 1\n"));
	assert_non_null(strstr(text, "qkd_node_info{node=\"A\"} 1\n"));
	assert_non_null(strstr(text, "qkd_node_memory_locked 0\n"));
	assert_non_null(strstr(text, "\nqkd_alarms_active{severity=\"major\"} 1\n"));
	assert_non_null(strstr(text, "\nqkd_alarms_active{severity=\"critical\"} 0\n"));
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n;

		if (!strncmp(line, "# HELP ", 7)) {
			n = strcspn(line + 7, " ");
			assert_true(metric_name_ok(line + 7, n));
			assert_true(n < sizeof(family));
			/* A family once only. */
			assert_true(strncmp(family, line + 7, n) ||
				    family[n]);
			memcpy(family, line + 7, n);
			family[n] = '\0';
			assert_int_equal(strncmp(family, "qkd_", 4), 0);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(strncmp(line + 7, family,
						 strlen(family)), 0);
			continue;
		}
		n = strcspn(line, "{ ");
		assert_true(metric_name_ok(line, n));
		assert_int_equal(strncmp(line, family, strlen(family)), 0);
		samples++;
	}
	assert_true(samples >= 4);
	free(text);
	alarm_reset();
}

/*
 * A card as qkd.ko reports it (keysrc.h's generation op): QBER, SKR and
 * the state LINK_SET leaves it in.  Nothing else of a source is used.
 */
struct fake_card {
	struct keysrc src;
	bool running;
};

static int fc_alloc(struct keysrc *src, uint32_t len, uint32_t count,
		    struct keysrc_key *keys, uint8_t *bytes, char *err,
		    size_t errlen)
{
	return -ENOSPC;
}

static int fc_get(struct keysrc *src, uint64_t key_id, uint32_t len,
		  uint8_t *out, uint64_t *gen_time_ns, char *err, size_t errlen)
{
	return -ENOENT;
}

static int fc_discard(struct keysrc *src, uint64_t key_id, uint32_t len)
{
	return 0;
}

static uint64_t fc_avail(struct keysrc *src)
{
	return 0;
}

static bool fc_is_up(struct keysrc *src)
{
	return ((struct fake_card *)src)->running;
}

static void fc_free(struct keysrc *src)
{
	free(src);
}

static int fc_set_generation(struct keysrc *src, bool run, char *err,
			     size_t errlen)
{
	((struct fake_card *)src)->running = run;
	return 0;
}

static void fc_generation(struct keysrc *src, struct keysrc_gen *out)
{
	bool run = ((struct fake_card *)src)->running;

	out->control = true;
	out->running = run;
	out->has_card = true;
	out->card_state = run ? QKD_LINK_UP : QKD_LINK_DOWN;
	out->has_qber = out->has_skr = true;
	out->qber_ppm = 31250;
	out->skr_bps = run ? 1000000 : 0;
}

static const struct keysrc_ops fc_ops = {
	.alloc = fc_alloc, .get = fc_get, .discard = fc_discard,
	.avail = fc_avail, .is_up = fc_is_up, .free = fc_free,
	.set_generation = fc_set_generation, .generation = fc_generation,
};

static const struct keysrc_ops fc_plain_ops = {
	.alloc = fc_alloc, .get = fc_get, .discard = fc_discard,
	.avail = fc_avail, .is_up = fc_is_up, .free = fc_free,
};

static void test_generation_series(void **state)
{
	struct qkd_config cfg;
	struct km_node_cfg node = { .name = "A" };
	struct kma_link_cfg link = {
		.name = "AB", .peer = "B", .source = KM_SOURCE_KERNEL,
		.role = QKD_ROLE_TX, .block_size = 1024,
	};
	struct fake_card *fc = calloc(1, sizeof(*fc));
	struct keysrc *src = &fc->src;
	struct ctl_sources ctl = { .cfg = &cfg };
	char err[160];
	size_t len;
	char *text;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.node.name, "A");
	assert_non_null(fc);
	fc->src.ops = &fc_ops;
	fc->src.kind = "kernel";
	fc->src.block_size = 1024;
	fc->running = true;
	ctl.kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(ctl.kma);
	text = metrics_render(&ctl, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\nqkd_link_qber_ratio{link=\"AB\",peer=\"B\"} 0.03125\n"));
	assert_non_null(strstr(text, "\nqkd_link_key_rate_bytes_per_second{link=\"AB\",peer=\"B\"} 125000\n"));
	assert_non_null(strstr(text, "\nqkd_link_generation_running{link=\"AB\",peer=\"B\"} 1\n"));
	free(text);
	assert_int_equal(kma_link_set_generation(ctl.kma, "AB", false, err,
						 sizeof(err)), 0);
	assert_int_equal(kma_link_set_generation(ctl.kma, "XY", false, err,
						 sizeof(err)), -ENOENT);
	text = metrics_render(&ctl, &len);
	assert_non_null(strstr(text, "\nqkd_link_generation_running{link=\"AB\",peer=\"B\"} 0\n"));
	assert_non_null(strstr(text, "\nqkd_link_key_rate_bytes_per_second{link=\"AB\",peer=\"B\"} 0\n"));
	assert_non_null(strstr(text, "\nqkd_link_up{link=\"AB\",peer=\"B\"} 0\n"));
	free(text);
	kma_free(ctl.kma);

	/* A source without the control (etsi014, file): refused, and no
	 * generation, QBER or SKR series for it. */
	fc = calloc(1, sizeof(*fc));
	assert_non_null(fc);
	fc->src.ops = &fc_plain_ops;
	fc->src.kind = "file";
	fc->src.block_size = 1024;
	src = &fc->src;
	link.source = KM_SOURCE_FILE;
	ctl.kma = kma_new_with_sources(&node, &link, &src, 1, err, sizeof(err));
	assert_non_null(ctl.kma);
	assert_int_equal(kma_link_set_generation(ctl.kma, "AB", false, err,
						 sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "no key generation control"));
	text = metrics_render(&ctl, &len);
	assert_null(strstr(text, "\nqkd_link_generation_running{"));
	assert_null(strstr(text, "\nqkd_link_qber_ratio{"));
	assert_null(strstr(text, "\nqkd_link_key_rate_bytes_per_second{"));
	free(text);
	kma_free(ctl.kma);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_stats_count),
		cmocka_unit_test(test_render_format),
		cmocka_unit_test(test_generation_series),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
